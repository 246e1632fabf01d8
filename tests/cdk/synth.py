"""One synthesis of the example CDK app per test session, shared by every CDK test.

Reusable outside ``tests/cdk`` (the end-to-end test takes the rule's pattern
from here): :func:`synthesized_template` and :func:`rule_event_pattern`.

Two stacks in one app, one ``app.synth()``:

* ``Example``: the shipped ``examples/cdk/presets.json`` as is (a new table);
* ``Full``: every option on (existing table, SecureString key, X-Ray, an extra
  region, a subnet, a per-preset schedule, a runner launch template on the AMI
  parameter, a soak rollout, a preset that starts no build, an
  alarm e-mail, another reconcile schedule, AMI age limit and lifecycle rule,
  Image Builder's SNS notifications through a queue, runners in two other accounts
  reached through a custom target role name),
  so the conditional statements are checked too;
* ``Target`` and ``TargetOther``: the ``Full`` stack's target accounts' roles
  (``AmiStateTargetStack``; ``TargetOther`` is listed by one preset only, and
  leaves out Image Builder's distribution role).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


def _require_node() -> None:
    """The CDK runs on jsii, which needs Node.js: fail clearly, never skip."""
    node = shutil.which("node")
    message = (
        "Node.js >= 18 is required by the AWS CDK (jsii) for the tests in tests/cdk; "
        "install it (e.g. 'apt-get install nodejs') or run 'make test', which checks it"
    )
    if node is None:
        raise RuntimeError(message + ": 'node' is not on PATH")
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    major = version.lstrip("v").split(".")[0]
    if not major.isdigit() or int(major) < 18:
        raise RuntimeError(f"{message}: found {version or 'an unknown version'}")


_require_node()

# Imported only once Node.js is known to be there (importing starts jsii); the
# example's package first: it quiets jsii's Node.js banner before jsii starts.
import examples.cdk.amistate_cdk  # noqa: E402, F401

# isort: split
from aws_cdk import App, Environment, Stack  # noqa: E402
from aws_cdk.cx_api import CloudAssembly  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from examples.cdk.amistate_cdk import (  # noqa: E402
    AmiStateSettings,
    AmiStateStack,
    AmiStateTargetStack,
    LifecycleSpec,
    read_settings,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SETTINGS = ROOT / "examples" / "cdk" / "presets.json"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
EXTRA_REGION = "us-east-1"
EXISTING_TABLE = "spot-runner"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b1c2d3e-0000-4000-8000-123456789abc"
STACKS = ("Example", "Full")
#: The Full stack's runners' accounts: both presets list the first, one the second.
TARGET_ACCOUNT = "210987654321"
OTHER_TARGET_ACCOUNT = "345678901234"
TARGET_ROLE_NAME = "amistate-full-target"
#: The target stacks: name -> (account, with Image Builder's distribution role).
TARGET_STACKS = {"Target": (TARGET_ACCOUNT, True), "TargetOther": (OTHER_TARGET_ACCOUNT, False)}
ALARM_EMAIL = "runners-oncall@example.com"


@dataclass(frozen=True)
class Synthesized:
    """The synthesized app: constructs, templates, and cdk-nag's report."""

    app: App
    assembly: CloudAssembly
    stacks: dict[str, AmiStateStack]
    targets: dict[str, AmiStateTargetStack]
    settings: dict[str, AmiStateSettings]
    templates: dict[str, dict[str, Any]]
    nag_violations: list[dict[str, Any]]
    seconds: float


def full_settings(example: AmiStateSettings) -> AmiStateSettings:
    """The example's presets with every option switched on."""
    first, *rest = example.presets
    first = replace(
        first,
        schedule="cron(30 4 ? * MON-FRI *)",
        launch_template=True,  # on the example's AmiParameter
        rollout_policy="soak",
        soak_time="PT6H",
        recipe=replace(
            first.recipe,
            subnet_id="subnet-0123456789abcdef0",
            security_group_ids=("sg-0123456789abcdef0",),
        ),
    )
    first = replace(first, target_accounts=(TARGET_ACCOUNT,))
    rest = [
        replace(p, start_build=False, target_accounts=(OTHER_TARGET_ACCOUNT, TARGET_ACCOUNT))
        for p in rest
    ]
    return replace(
        example,
        presets=(first, *rest),
        table_name=EXISTING_TABLE,
        secure_string_key_arn=KEY_ARN,
        extra_regions=(EXTRA_REGION,),
        tracing=True,
        name_prefix="amistate-full",
        schedule_timezone="Europe/Paris",
        reconcile_schedule="rate(30 minutes)",
        ami_max_age_days=7,
        candidate_max_wait_hours=12,
        alarm_email=ALARM_EMAIL,
        lifecycle=LifecycleSpec(keep_images=5, max_age_days=90),
        history_limit=40,
        notifications=True,
        build_account=ACCOUNT,
        target_role_name=TARGET_ROLE_NAME,
    )


#: The runtime the Example stack's fake package says it was built for
#: (``.lambda-asset/RUNTIME``); the Full stack's package has no such file, so it
#: falls back to the interpreter running the synthesis.
EXAMPLE_ASSET_RUNTIME = "python3.13"


def fake_asset(runtime: str | None = None) -> Path:
    """A tiny stand-in for the built package: synthesis hashes it, nothing runs it."""
    folder = Path(tempfile.mkdtemp(prefix="amistate-asset-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    shims = folder / "amistate" / "shims"
    shims.mkdir(parents=True)
    (shims / "lambda_handler.py").write_text("def handler(event, context): ...\n")
    (shims / "custom_resource.py").write_text("def on_event(event, context): ...\n")
    if runtime is not None:
        (folder / "RUNTIME").write_text(runtime + "\n")
    return folder


@functools.cache
def synthesize() -> Synthesized:
    """Synthesize both stacks once per process (about a few seconds; see the report)."""
    import time

    started = time.perf_counter()
    outdir = tempfile.mkdtemp(prefix="amistate-cdk-out-")
    atexit.register(shutil.rmtree, outdir, ignore_errors=True)
    app = App(outdir=outdir)
    assets = {"Example": fake_asset(EXAMPLE_ASSET_RUNTIME), "Full": fake_asset()}
    example = read_settings(EXAMPLE_SETTINGS)
    settings = {"Example": example, "Full": full_settings(example)}
    env = Environment(account=ACCOUNT, region=REGION)
    stacks = {
        name: AmiStateStack(app, name, settings=settings[name], asset_dir=assets[name], env=env)
        for name in STACKS
    }
    targets = target_stacks(app, settings["Full"])
    assembly = app.synth()
    templates = {name: assembly.get_stack_by_name(name).template for name in (*STACKS, *targets)}
    report = AwsSolutionsChecks().validate_scope(app)
    violations = [
        {
            "rule": v.rule_name,
            "description": v.description,
            "resources": [r.construct_path or r.resource_logical_id for r in v.violating_resources],
        }
        for v in report.violations
    ]
    return Synthesized(
        app=app,
        assembly=assembly,
        stacks=stacks,
        targets=targets,
        settings=settings,
        templates=templates,
        nag_violations=violations,
        seconds=time.perf_counter() - started,
    )


def target_stacks(app: App, full: AmiStateSettings) -> dict[str, AmiStateTargetStack]:
    """The Full stack's target accounts' stacks, in ``app`` (the build stack's region)."""
    return {
        name: AmiStateTargetStack(
            app,
            name,
            settings=full,
            deployment="Full",
            account=account,
            env=Environment(account=account, region=REGION),
            distribution_role=distribution,
        )
        for name, (account, distribution) in TARGET_STACKS.items()
    }


def synthesized_template(stack: str = "Example") -> dict[str, Any]:
    """The CloudFormation template of ``stack`` (``Example`` or ``Full``)."""
    return synthesize().templates[stack]


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """``{logical id: resource}`` of every resource of CloudFormation type ``kind``."""
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def rule_event_pattern(stack: str = "Example") -> dict[str, Any]:
    """The EventPattern of the stack's image state rule (to the state function), for put_rule."""
    rules = resources_of_type(synthesized_template(stack), "AWS::Events::Rule")
    (rule,) = [
        r
        for r in rules.values()
        if "EC2 Image Builder Image State Change"
        in r["Properties"].get("EventPattern", {}).get("detail-type", [])
    ]
    pattern: dict[str, Any] = rule["Properties"]["EventPattern"]
    return pattern


def stack_of(name: str) -> Stack:
    return synthesize().stacks[name]


__all__ = [
    "ACCOUNT",
    "EXAMPLE_ASSET_RUNTIME",
    "OTHER_TARGET_ACCOUNT",
    "REGION",
    "STACKS",
    "TARGET_ACCOUNT",
    "TARGET_ROLE_NAME",
    "TARGET_STACKS",
    "Synthesized",
    "fake_asset",
    "resources_of_type",
    "rule_event_pattern",
    "stack_of",
    "synthesize",
    "synthesized_template",
    "target_stacks",
]
