"""A stack holding one :class:`AmiStatePipeline`, and the app builder ``app.py`` uses."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from aws_cdk import App, CfnOutput, Environment, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from .construct import AmiStatePipeline, python_runtime
from .loading import load_settings
from .settings import AmiStateSettings, SettingsError, validate
from .target_role import AmiStateTargetStack, target_stack_id


class AmiStateStack(Stack):
    """amistate for ``settings.presets``; ``asset_dir``: see ``make lambda-asset``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AmiStateSettings,
        asset_dir: Path,
        env: Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description="amistate: Image Builder pipelines whose AMIs land in DynamoDB and SSM",
        )
        self.amistate = AmiStatePipeline(
            self,
            "AmiState",
            settings=settings,
            code=lambda_code(asset_dir),
            runtime=lambda_runtime(asset_dir),
        )
        self._outputs()

    def _outputs(self) -> None:
        """What operators look up after a deploy (docs/getting-started.md, "Check it worked"),
        under logical IDs written here (not hashed from construct paths), each exported as
        ``<stack name>-<ID>`` for other stacks to import."""
        amistate = self.amistate
        self._output("TableName", amistate.table.table_name, "the table")
        self._output(
            "Deployment",
            amistate.deployment,
            "AMISTATE_DEPLOYMENT: the deployment's name in its in-use tag keys",
        )
        self._output(
            "InUseTagKey",
            amistate.in_use.protect,
            "set to true on every AMI this stack's presets need (spare it)",
        )
        for name, function, what in (
            ("StateFunctionName", amistate.state_function, "Image Builder events"),
            ("ReconcileFunctionName", amistate.reconcile_function, "the scheduled reconciler"),
            ("DeployFunctionName", amistate.deploy_function, "the presets' custom resources"),
        ):
            self._output(name, function.function_name, f"function: {what}")
        self._output("DashboardUrl", amistate.monitoring.dashboard_url, "the CloudWatch dashboard")
        topic = amistate.monitoring.topic.topic_arn
        self._output("AlarmTopicArn", topic, "the SNS topic every alarm notifies")
        owners: dict[str, str] = {}
        for preset_name, preset in amistate.presets.items():
            taken = owners.setdefault(output_id("", preset_name), preset_name)
            if taken != preset_name:
                raise SettingsError(
                    f"presets {taken!r} and {preset_name!r} would share the stack outputs "
                    f"*{output_id('', preset_name)} (letters and digits only): rename one"
                )
            self._output(
                output_id("PipelineArn", preset_name),
                preset.pipeline.attr_arn,
                f"Image Builder pipeline of preset {preset_name}",
            )
            self._output(
                output_id("ParameterName", preset_name),
                preset.parameter_name,
                f"SSM parameter of preset {preset_name}",
            )
            if preset.ami_parameter is not None:
                self._output(
                    output_id("AmiParameterName", preset_name),
                    preset.ami_parameter,
                    f"AMI parameter of preset {preset_name} (resolve:ssm: in launch templates)",
                )
            if preset.launch_template is not None:
                self._output(
                    output_id("LaunchTemplateId", preset_name),
                    preset.launch_template.ref,
                    f"runner launch template of preset {preset_name} (its live AMI)",
                )

    def _output(self, logical_id: str, value: str, description: str) -> None:
        output = CfnOutput(
            self,
            logical_id,
            value=value,
            description=description,
            export_name=f"{self.stack_name}-{logical_id}",
        )
        output.override_logical_id(logical_id)


def output_id(kind: str, preset: str) -> str:
    """A preset's output ID: ``PipelineArn`` + ``linux-x64`` -> ``PipelineArnLinuxX64``."""
    parts = re.split(r"[^A-Za-z0-9]+", preset)
    return kind + "".join(part[:1].upper() + part[1:] for part in parts)


def lambda_code(asset_dir: Path) -> lambda_.Code:
    """The prebuilt package folder as Lambda code; no Docker, no bundling at synth time."""
    if not (asset_dir / "amistate" / "shims" / "lambda_handler.py").is_file():
        raise SystemExit(
            f"{asset_dir} does not hold the amistate package: run `make lambda-asset` "
            "in the repository root first (it builds the Lambda code without Docker)"
        )
    return lambda_.Code.from_asset(str(asset_dir))


#: Written by ``make lambda-asset``: the runtime its bytecode was compiled for.
RUNTIME_FILE = "RUNTIME"


def runtime_name(asset_dir: Path) -> str:
    """The Lambda runtime the package in ``asset_dir`` was built for.

    ``<asset_dir>/RUNTIME`` (e.g. ``python3.12``) when ``make lambda-asset``
    wrote it; otherwise the interpreter running the synthesis, ``python3.X``.
    """
    marker = asset_dir / RUNTIME_FILE
    if marker.is_file():
        return marker.read_text(encoding="utf-8").strip()
    return f"python{sys.version_info[0]}.{sys.version_info[1]}"


def lambda_runtime(asset_dir: Path) -> lambda_.Runtime:
    """The runtime matching the package's bytecode (see :func:`runtime_name`)."""
    name = runtime_name(asset_dir)
    try:
        return python_runtime(name)
    except ValueError as exc:
        raise SystemExit(
            f"{asset_dir / RUNTIME_FILE}: {exc}; rebuild it with `make lambda-asset`"
        ) from None


def read_settings(path: Path) -> AmiStateSettings:
    """Settings from a JSON file such as ``presets.json``.

    :class:`SettingsError` names the file when it is missing, is not JSON or
    not an object, and the field (``presets[0].timeout``) when one is wrong.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(
            f"{path}: no such file (the settings file: the `presets` context, "
            "default presets.json next to app.py)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot be read ({exc})") from None
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return load_settings(data)


#: CDK context keys that override the settings file (``-c key=value``).
CONTEXT_OVERRIDES = ("reconcileSchedule", "amiMaxAgeDays", "alarmEmail")


def with_context(settings: AmiStateSettings, app: App) -> AmiStateSettings:
    """``settings`` with the :data:`CONTEXT_OVERRIDES` the app's context sets, validated."""
    changes: dict[str, Any] = {}
    schedule = app.node.try_get_context("reconcileSchedule")
    if schedule is not None:
        changes["reconcile_schedule"] = str(schedule)
    age = app.node.try_get_context("amiMaxAgeDays")
    if age is not None:
        try:
            changes["ami_max_age_days"] = int(str(age))
        except ValueError:
            raise SettingsError(f"amiMaxAgeDays (context): {age!r} is not a whole number") from None
    email = app.node.try_get_context("alarmEmail")
    if email:
        changes["alarm_email"] = str(email)
    if not changes:
        return settings
    updated = replace(settings, **changes)
    validate(updated)
    return updated


def build_app(app: App, settings: AmiStateSettings, asset_dir: Path) -> AmiStateStack:
    """Add the stack to ``app`` (named by the ``stackName`` context, default ``AmiState``),
    and one :class:`AmiStateTargetStack` per target account (``AmiStateTarget-<account>``).

    The context keys of :data:`CONTEXT_OVERRIDES` override ``settings``.
    """
    name = str(app.node.try_get_context("stackName") or "AmiState")
    settings = with_context(settings, app)
    build = settings.build_account
    for account in settings.target_accounts():
        AmiStateTargetStack(
            app, target_stack_id(account), settings=settings, deployment=name, account=account
        )
    # With target accounts the build account is known: cdk deploy then refuses other credentials.
    env = Environment(account=build) if build is not None and settings.target_accounts() else None
    return AmiStateStack(app, name, settings=settings, asset_dir=asset_dir, env=env)


__all__ = [
    "CONTEXT_OVERRIDES",
    "RUNTIME_FILE",
    "AmiStateStack",
    "build_app",
    "lambda_code",
    "lambda_runtime",
    "output_id",
    "read_settings",
    "runtime_name",
    "with_context",
]
