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
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from amistate import __version__
from amistate.errors import UsageError, is_permanent

from . import render
from .target import Options, open_runtime, resolve

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2

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
    _add_status_and_sync(commands, options)
    _add_replay(commands, options)
    _add_init(commands, options)
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


def _add_status_and_sync(commands: Commands, options: list[_Parser]) -> None:
    status = commands.add_parser(
        "status",
        parents=options,
        help="each preset's state record and SSM amiId; DRIFT where they disagree",
        description="Show status, amiId, updatedAt and buildId of each preset's record and "
        "the amiId its SSM parameter holds. Exit 1 if any parameter drifted.",
    )
    status.add_argument("presets", nargs="*", metavar="PRESET", help="only these (default: all)")

    sync = commands.add_parser(
        "sync",
        parents=options,
        help="repair SSM parameters from DynamoDB (idempotent)",
        description="Make each preset's SSM amiId equal its record's amiId, keeping every "
        "other key. Idempotent. Exit 1 if --dry-run finds drift or a repair fails.",
    )
    sync.add_argument("presets", nargs="*", metavar="PRESET", help="only these (default: all)")
    sync.add_argument("--dry-run", action="store_true", help="report, change nothing")


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


def _add_init(commands: Commands, options: list[_Parser]) -> None:
    init = commands.add_parser(
        "init",
        parents=options,
        help="register a preset (what the custom resource's Create does)",
        description="Create the preset's state record (status building) unless one exists, "
        "store its configuration and pipeline mapping, and start a build (unless --no-build).",
    )
    init.add_argument("preset", metavar="PRESET")
    init.add_argument(
        "--pipeline-arn", required=True, metavar="ARN", help="its Image Builder pipeline"
    )
    init.add_argument(
        "--config",
        required=True,
        metavar="FILE",
        help="its configuration: a JSON object (- = stdin)",
    )
    init.add_argument("--no-build", action="store_true", help="do not start a pipeline execution")
    init.add_argument(
        "--client-token",
        metavar="TOKEN",
        help="Image Builder idempotency token: rerunning with the same one starts no second build",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = bool(args.debug)
    try:
        return _dispatch(args)
    except UsageError as exc:
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


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from amistate.demo import run_demo

        return run_demo(json_output=args.json, debug=args.debug)
    target = resolve(_options(args), os.environ)
    if args.command == "init":
        # Validate every argument before the first AWS call.
        props = _init_properties(args)
        return _init(args, target, props)
    if args.command == "replay":
        from .inputs import read_sources

        events = read_sources(args.files)
        return _replay(args, target, events)
    rt = open_runtime(target)
    if args.command == "status":
        return _status(args, rt, str(target.settings.table))
    if args.command == "sync":
        return _sync(args, rt, str(target.settings.table))
    raise UsageError(f"unknown command {args.command!r}")  # pragma: no cover (argparse refuses)


# --- status / sync ----------------------------------------------------------------------


def _status(args: argparse.Namespace, rt: Any, table: str) -> int:
    from .operate import status_text, view

    views = [view(rt.service, record) for record in rt.service.records(args.presets)]
    drift = any(v.drift for v in views)
    if args.json:
        render.emit_json({"table": table, "presets": [v.to_json() for v in views], "drift": drift})
    else:
        print(status_text(views, multi_region=bool(rt.service.settings.extra_regions)))
        if drift:
            print(f"\nDRIFT: SSM disagrees with DynamoDB; `{PROG} sync` repairs it.")
    return EXIT_PROBLEM if drift else EXIT_OK


def _sync(args: argparse.Namespace, rt: Any, table: str) -> int:
    from .operate import sync, sync_text

    changes = []
    for record in rt.service.records(args.presets):
        changes.extend(sync(rt.service, record, dry_run=args.dry_run))
    failed = any(c.action == "failed" for c in changes)
    pending = any(c.action == "would-write" for c in changes)
    written = sum(c.action == "written" for c in changes)
    if args.json:
        render.emit_json(
            {
                "table": table,
                "dryRun": args.dry_run,
                "changes": [c.to_json() for c in changes],
                "written": written,
                "drift": pending,
                "failed": failed,
            }
        )
    else:
        print(sync_text(changes))
        if args.dry_run:
            count = sum(c.action == "would-write" for c in changes)
            print(f"\ndry run: {count} parameter(s) would be written, nothing changed")
        else:
            print(f"\n{written} parameter(s) written")
    return EXIT_PROBLEM if failed or pending else EXIT_OK


# --- replay -----------------------------------------------------------------------------


def _replay(args: argparse.Namespace, target: Any, events: Any) -> int:
    from .invoke import capturing
    from .replay import describe_invocation, replay_text

    open_runtime(target)
    results = []
    with capturing(echo=args.debug) as invoker:
        for item in events:
            results.extend(describe_invocation(item.source, invoker.invoke(item.event)))
    failures = sum(1 for r in results if r["failed"])
    if args.json:
        render.emit_json({"events": results, "failures": failures})
    else:
        print(replay_text(results))
        print(f"\n{len(results)} event(s), {failures} failed")
    return EXIT_PROBLEM if failures else EXIT_OK


# --- init -------------------------------------------------------------------------------


def _init_properties(args: argparse.Namespace) -> Any:
    from amistate.deploy import InvalidProperties, parse_properties

    if args.config == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.config).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--config: cannot read {args.config}: {exc.strerror}") from None
    try:
        return parse_properties(
            {
                "PresetName": args.preset,
                "PipelineArn": args.pipeline_arn,
                "Config": text,
                "StartBuild": "false" if args.no_build else "true",
            }
        )
    except InvalidProperties as exc:
        message = str(exc)
        for prop, flag in (
            ("PresetName", "PRESET"),
            ("PipelineArn", "--pipeline-arn"),
            ("Config", "--config"),
        ):
            if message.startswith(prop + ":"):
                message = flag + message[len(prop) :]
        raise UsageError(message) from None


def _init(args: argparse.Namespace, target: Any, props: Any) -> int:
    from amistate.deploy import client_token
    from amistate.names import parameter_name

    token = args.client_token or client_token("amistate-cli", props.preset, str(uuid.uuid4()))
    if not 1 <= len(token) <= 64:
        raise UsageError("--client-token: 1 to 64 characters")
    rt = open_runtime(target)
    result = rt.deployer.create(props, token)
    parameter = parameter_name(target.settings.parameter_prefix, props.preset)
    if args.json:
        render.emit_json(
            {
                "preset": props.preset,
                "physicalResourceId": result.physical_id,
                "pipelineArn": props.pipeline_arn,
                "stateCreated": result.state_created,
                "buildArn": result.build_arn,
                "parameter": parameter,
            }
        )
        return EXIT_OK
    state = (
        "state record created (status building, no AMI yet)"
        if result.state_created
        else "state record already existed, left as it was"
    )
    print(f"preset {props.preset}: registered with pipeline {props.pipeline_arn}")
    print(f"  {state}")
    print(f"  configuration stored; {parameter} gets it with amiId after the first good build")
    print(f"  build started: {result.build_arn}" if result.build_arn else "  no build started")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
