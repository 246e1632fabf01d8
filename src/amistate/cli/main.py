"""``amistate``: the command line (see docs/cli.md).

Exit codes: 0 all is well; 1 a problem was found (drift, a failed event, a
failed check) or an operation failed; 2 a usage or configuration error.
Errors are one line on standard error; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from amistate import __version__
from amistate.errors import ConfigurationError, InputError, TableNotFound, UsageError, is_permanent

from . import args as checks
from . import init, rollouts
from .target import Options, open_runtime, resolve

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
#: The reader of stdout went away (``amistate demo | head``): 128 + SIGPIPE, the status a
#: shell reports for a process that signal ended.
EXIT_PIPE = 141

PROG = "amistate"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own usage errors: exit 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _global_options(suppress: bool) -> _Parser:
    """The global options, accepted before or after the command."""
    default: Any = argparse.SUPPRESS if suppress else None
    parent = _Parser(add_help=False)
    group = parent.add_argument_group("global options")
    group.add_argument(
        "--table", metavar="NAME", default=default, help="DynamoDB table [env AMISTATE_TABLE]"
    )
    group.add_argument(
        "--prefix",
        metavar="PATH",
        default=default,
        help="SSM parameter prefix [env AMISTATE_PARAMETER_PREFIX; /spot-runner/configs]",
    )
    group.add_argument(
        "--region", metavar="NAME", default=default, help="AWS region [env AWS_REGION]"
    )
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        default=default,
        help="send every AWS call here, e.g. a local moto server [env AWS_ENDPOINT_URL]",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="machine-readable output: one JSON document on stdout",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="tracebacks on errors; the Lambda's JSON decision lines on stderr",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=(
            "Keep the AMI of every spot-runner preset current: inspect, repair and replay "
            "the state that EC2 Image Builder events drive (DynamoDB record + SSM parameter)."
        ),
        parents=[_global_options(suppress=False)],
        epilog="exit codes: 0 fine, 1 problem found (drift, failures), 2 usage error. "
        "See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    options = [_global_options(suppress=True)]
    _add_demo(commands, options)
    _add_sandbox(commands, options)
    _add_status(commands, options)
    _add_sync(commands, options)
    _add_reconcile(commands, options)
    _add_history(commands, options)
    _add_pin(commands, options)
    _add_unpin(commands, options)
    _add_rollback(commands, options)
    rollouts.add_parsers(commands, options)
    _add_replay(commands, options)
    init.add_parser(commands, options)
    return parser


Commands = Any  # argparse's _SubParsersAction (private type)


def _add_demo(commands: Commands, options: list[_Parser]) -> None:
    commands.add_parser(
        "demo",
        parents=options,
        help="play a realistic timeline against an embedded moto server (offline)",
        description="Start moto's server and an Image Builder stand-in in-process, register two "
        "presets through the real custom resource, play build events through the real Lambda "
        "handler, print the timeline and final table, and check the invariants. Needs the "
        "'demo' extra (moto); no AWS account, credentials or network.",
    )


def _add_sandbox(commands: Commands, options: list[_Parser]) -> None:
    sandbox = commands.add_parser(
        "sandbox",
        parents=options,
        help="run moto (DynamoDB, SSM, EC2) and an Image Builder stand-in locally, until Ctrl-C",
        description="Start moto's server and the Image Builder stand-in on loopback ports, create "
        "the table, print the export lines for the other commands, and run until interrupted. "
        "Builds started in the sandbox finish at once (a new AMI in moto's EC2); their "
        "EventBridge events are saved as files for `amistate replay`. Needs the 'demo' extra.",
    )
    sandbox.add_argument(
        "--events", metavar="DIR", help="where build events are saved (default: a new temp dir)"
    )


def _add_status(commands: Commands, options: list[_Parser]) -> None:
    status = commands.add_parser(
        "status",
        parents=options,
        help="each preset's record, pin and SSM parameter; AMI and config DRIFT",
        description="Show each preset's status, its AMI and the build of that AMI, its pin, "
        "and what each region's SSM parameter holds against what it should hold (the AMI of "
        "the pin or the record, and the preset's Config). Exit 1 on drift or a problem.",
    )
    status.add_argument("presets", nargs="*", metavar="PRESET", help="only these (default: all)")


def _add_sync(commands: Commands, options: list[_Parser]) -> None:
    sync = commands.add_parser(
        "sync",
        parents=options,
        help="repair SSM parameters: AMI and Config (idempotent)",
        description="Make each preset's SSM parameters hold what they should (the AMI of the "
        "pin or the record, the preset's Config), keeping keys nobody configured. Idempotent. "
        "Exit 1 if --dry-run finds drift or a repair fails.",
    )
    sync.add_argument("presets", nargs="*", metavar="PRESET", help="only these (default: all)")
    sync.add_argument("--dry-run", action="store_true", help="report, change nothing")


def _add_reconcile(commands: Commands, options: list[_Parser]) -> None:
    reconcile = commands.add_parser(
        "reconcile",
        parents=options,
        help="one reconcile run: lost builds, vanished AMIs, SSM, history, in-use tags",
        description="Compare each preset with what Image Builder and EC2 hold and converge: "
        "feed builds whose events were lost, fall back from AMIs that vanished, converge SSM, "
        "trim the history, tag the AMIs in use. Exit 0 when nothing is left to change, 1 when "
        "--dry-run finds something to change or a problem or failure is reported.",
    )
    reconcile.add_argument("presets", nargs="*", metavar="PRESET", help="only these (default: all)")
    reconcile.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")


def _add_history(commands: Commands, options: list[_Parser]) -> None:
    history = commands.add_parser(
        "history",
        parents=options,
        help="a preset's builds, newest first, failures included",
        description="List the terminal builds kept in the preset's history, newest first, "
        "with their AMIs; marks the build in use and the pinned one.",
    )
    history.add_argument("preset", metavar="PRESET")
    history.add_argument(
        "--limit", type=checks.positive_int, metavar="N", help="at most N builds (default: all)"
    )


def _add_pin(commands: Commands, options: list[_Parser]) -> None:
    pin = commands.add_parser(
        "pin",
        parents=options,
        help="hold a preset's parameters on one of its good builds",
        description="Pin PRESET to the good build that produced AMI_ID (in any region) or has "
        "BUILD_ARN: every region's parameter holds that build's AMIs, whatever builds arrive, "
        "until `unpin`. Anything else is refused (exit 1) and nothing is written.",
    )
    pin.add_argument("preset", metavar="PRESET")
    pin.add_argument("target", metavar="AMI_ID|BUILD_ARN")
    pin.add_argument("--reason", metavar="TEXT", help="why (shown by status)")


def _add_unpin(commands: Commands, options: list[_Parser]) -> None:
    unpin = commands.add_parser(
        "unpin",
        parents=options,
        help="remove a pin: the parameters follow the newest good build again",
        description="Remove PRESET's pin; its parameters converge on the newest good build.",
    )
    unpin.add_argument("preset", metavar="PRESET")


def _add_rollback(commands: Commands, options: list[_Parser]) -> None:
    rollback = commands.add_parser(
        "rollback",
        parents=options,
        help="pin to the newest good build older than the one in use",
        description="Pin PRESET to the newest good build older than the one whose AMI its "
        "parameter holds. Refused (exit 1) when there is none. `unpin` undoes it.",
    )
    rollback.add_argument("preset", metavar="PRESET")
    rollback.add_argument("--reason", metavar="TEXT", help="why (default: rollback)")


def _add_replay(commands: Commands, options: list[_Parser]) -> None:
    replay = commands.add_parser(
        "replay",
        parents=options,
        help="run saved events through the Lambda's code (JSON, JSON Lines, SQS dump)",
        description="Run each event in FILE (JSON, JSON Lines, or an `aws sqs receive-message` "
        "dump, e.g. drained from the dead-letter queue) through the state Lambda's handler; "
        "one decision line per event. Exit 1 if any event failed.",
    )
    replay.add_argument("files", nargs="+", metavar="FILE", help="a file, or - for stdin")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code."""
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
    except BrokenPipeError:
        # Stop quietly, as a process SIGPIPE ends would; stdout goes to /dev/null so the
        # interpreter's own flush at exit has nothing left to fail on.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = bool(args.debug)
    try:
        return _dispatch(args)
    except BrokenPipeError:
        raise
    except (UsageError, InputError, ConfigurationError) as exc:  # e.g. TableNotFound
        return _fail(exc, EXIT_USAGE, debug)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return _fail(exc, EXIT_PROBLEM, debug)


def _fail(exc: BaseException, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"{PROG}: error: {describe(exc)}", file=sys.stderr)
    return code


def describe(exc: BaseException) -> str:
    """One line for an error, whatever raised it."""
    if isinstance(exc, TableNotFound):
        return exc.explain("AMISTATE_TABLE / --table", "AWS_REGION / --region")
    if is_permanent(exc):
        return str(exc)
    name = type(exc).__name__
    text = " ".join(str(exc).split())
    if name == "NoCredentialsError":
        return f"{text} (configure AWS credentials, or try `{PROG} demo`, which needs none)"
    if name == "EndpointConnectionError":
        return f"{text} (is the endpoint reachable? check --endpoint-url / AWS_ENDPOINT_URL)"
    if name == "ClientError" or (name.endswith("Exception") and "botocore" in type(exc).__module__):
        return text
    return f"{name}: {text}" if text else name


def _options(args: argparse.Namespace) -> Options:
    return Options(
        table=args.table, prefix=args.prefix, region=args.region, endpoint_url=args.endpoint_url
    )


def _check(args: argparse.Namespace) -> None:
    """Validate PRESET, AMI_ID|BUILD_ARN and --reason before the first AWS call."""
    names = list(getattr(args, "presets", None) or ())
    if getattr(args, "preset", None) is not None:
        names.append(args.preset)
    checks.presets(names)
    if getattr(args, "target", None) is not None:
        checks.pin_target(args.target)
    checks.reason(getattr(args, "reason", None))


def _dispatch(args: argparse.Namespace) -> int:
    checks.local_options(args)
    if args.command == "demo":
        from amistate.demo import run_demo

        return run_demo(json_output=args.json, debug=args.debug)
    if args.command == "sandbox":
        from amistate.demo.sandbox import run_sandbox

        return run_sandbox(args.region, args.table, args.events)
    target = resolve(_options(args), os.environ)
    if args.command == "init":
        from .init import properties, run_init

        # Validate every argument before the first AWS call.
        return run_init(args, target, properties(args))
    if args.command == "replay":
        from .inputs import read_sources
        from .replay import run_replay

        return run_replay(args, target, read_sources(args.files))
    _check(args)
    rt = open_runtime(target)
    table = str(target.settings.table)
    if args.command == "status":
        from .operate import run_status

        return run_status(args, rt, table)
    if args.command == "sync":
        from .sync import run_sync

        return run_sync(args, rt, table)
    if args.command == "reconcile":
        from .reconcile import run_reconcile

        return run_reconcile(args, rt)
    if args.command == "history":
        from .history import run_history

        return run_history(args, rt)
    if args.command in ("pin", "unpin", "rollback"):
        from . import pins

        return pins.run(args, rt)
    if args.command in ("promote", "reject"):
        return rollouts.run(args, rt)
    raise UsageError(f"unknown command {args.command!r}")  # pragma: no cover (argparse refuses)


if __name__ == "__main__":
    sys.exit(main())
