"""``init``: register a preset, as the custom resource's Create does."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from amistate.core.arns import owner_of
from amistate.core.names import parameter_name
from amistate.core.settings import Settings
from amistate.errors import UsageError
from amistate.usecases.deploy import (
    AMI_PARAMETER,
    ROLLOUT_POLICY,
    SOAK_TIME,
    InvalidProperties,
    PresetProperties,
    client_token,
    parse_properties,
)

from . import render, rollouts
from .target import Target, open_runtime


def add_parser(commands: Any, options: Sequence[argparse.ArgumentParser]) -> None:
    """The ``init`` subcommand."""
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
    rollouts.add_init_flags(init)
    init.add_argument(
        "--ami-parameter",
        metavar="NAME",
        help="also keep this SSM parameter (DataType aws:ec2:image) holding the live AMI, "
        "for launch templates (resolve:ssm:NAME)",
    )
    init.add_argument(
        "--target-account",
        action="append",
        metavar="ID",
        help="an account whose runners read the parameter too, with its own AMI copy (repeatable)",
    )
    init.add_argument(
        "--client-token",
        metavar="TOKEN",
        help="Image Builder idempotency token: rerunning with the same one starts no second build",
    )


def properties(args: argparse.Namespace) -> PresetProperties:
    """Every ``init`` argument, validated before the first AWS call (UsageError names it)."""
    if args.config == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.config).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"--config {args.config}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--config {args.config}: cannot read ({exc})") from None
    raw = {
        "PresetName": args.preset,
        "PipelineArn": args.pipeline_arn,
        "Config": text,
        "StartBuild": "false" if args.no_build else "true",
        "TargetAccounts": list(args.target_account or []),
    }
    if args.ami_parameter is not None:
        raw[AMI_PARAMETER] = args.ami_parameter
    if args.rollout_policy is not None:
        raw[ROLLOUT_POLICY] = args.rollout_policy
    if args.soak_time is not None:
        raw[SOAK_TIME] = args.soak_time
    try:
        return parse_properties(raw)
    except InvalidProperties as exc:
        raise _usage(exc) from None


def _usage(exc: InvalidProperties) -> UsageError:
    """The refusal in the command's words: the flag instead of the property."""
    message = str(exc)
    for prop, flag in (
        ("PresetName", "PRESET"),
        ("PipelineArn", "--pipeline-arn"),
        ("Config", "--config"),
        (AMI_PARAMETER, "--ami-parameter"),
        (ROLLOUT_POLICY, "--rollout-policy"),
        (SOAK_TIME, "--soak-time"),
        ("TargetAccounts", "--target-account"),
    ):
        if message.startswith(prop + ":"):
            message = flag + message[len(prop) :]
    return UsageError(message)


def admit(props: PresetProperties, settings: Settings) -> None:
    """The deployer's trust rule for the pipeline, in the command's words: its builds'
    events are only taken from the home region (and partition), so refuse it before
    anything is written."""
    owner = owner_of(props.pipeline_arn)  # an ARN: parse_properties checked it
    why = settings.foreign(*owner) if owner is not None else None
    if owner is None or why is None:
        return
    arn = props.pipeline_arn[:200]
    home = settings.home_region
    region = owner[1]
    if region == home:
        raise UsageError(f"--pipeline-arn: {arn!r}: {why}")
    raise UsageError(
        f"--pipeline-arn: {arn!r} is in {region}, not in {home} (--region / AWS_REGION): "
        f"its builds' events would never reach this preset; pass a pipeline in {home}, or "
        f"--region {region}"
    )


def run_init(args: argparse.Namespace, target: Target, props: PresetProperties) -> int:
    token = args.client_token or client_token("amistate-cli", props.preset, str(uuid.uuid4()))
    if not 1 <= len(token) <= 64:
        raise UsageError("--client-token: 1 to 64 characters")
    admit(props, target.settings)
    rt = open_runtime(target)
    try:
        result = rt.deployer.create(props, token)
    except InvalidProperties as exc:  # the AMI parameter, checked against SSM
        raise _usage(exc) from None
    parameter = parameter_name(target.settings.parameter_prefix, props.preset)
    home = target.settings.home_region
    # Create pushed the Config to SSM at once if the preset has an AMI (and confirmed it).
    ami = rt.service.require(props.preset).ami_for(home)
    if args.json:
        render.emit_json(
            {
                "preset": props.preset,
                "physicalResourceId": result.physical_id,
                "pipelineArn": props.pipeline_arn,
                "stateCreated": result.state_created,
                "buildArn": result.build_arn,
                "parameter": parameter,
                "amiParameter": props.ami_parameter,
                "amiId": ami,
                "targetAccounts": list(props.target_accounts),
            }
        )
        return 0
    state = (
        "state record created (status building, no AMI yet)"
        if result.state_created
        else "state record already existed, left as it was"
    )
    print(f"preset {props.preset}: registered with pipeline {props.pipeline_arn}")
    print(f"  {state}")
    if ami is None:
        print(f"  configuration stored; {parameter} gets it with amiId after the first good build")
    else:
        print(f"  configuration stored and pushed: {parameter} ({home}) holds it, amiId {ami}")
    if props.ami_parameter is not None:
        held = f"holds {ami}" if ami is not None else "gets the AMI after the first good build"
        print(f"  AMI parameter {props.ami_parameter} (aws:ec2:image) {held}")
    if props.target_accounts:
        print(f"  target accounts: {', '.join(props.target_accounts)} (each its own AMI copy)")
    print(f"  build started: {result.build_arn}" if result.build_arn else "  no build started")
    return 0


__all__ = ["add_parser", "admit", "properties", "run_init"]
