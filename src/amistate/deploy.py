"""The deploy-time use case behind the custom resource: one preset's lifecycle.

A CloudFormation custom resource stands for one preset. Its properties are
validated here, all of them, before anything is written; then the ports do
the work:

* **Create** creates the preset's AMI state record (``status=building``,
  ``amiId`` null) unless one exists, registers the preset (config + pipeline
  -> preset mapping), and starts a build without waiting for it.
* **Update** re-registers the preset (moving the mapping off the previous
  pipeline), never touches the AMI state, and starts a build only when the
  pipeline changed. A new ``PresetName`` is a new preset: a replacement.
* **Delete** forgets the pipeline mapping and keeps the AMI state record and
  the SSM parameter. It never fails on properties it cannot read: it also
  runs after a Create that failed validation.

Nothing here imports boto3: the shim hands in the ports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from attrs import field, frozen

from amistate.arns import is_pipeline_arn
from amistate.errors import AmistateError, InvalidConfig, InvalidPresetName
from amistate.merge import dump_object, load_object
from amistate.names import validate_preset
from amistate.ports import PipelineStarter, Preset, PresetCatalog, StateStore

#: The resource properties the custom resource reads (others, such as
#: CloudFormation's own ``ServiceToken``, are ignored).
PRESET_NAME = "PresetName"
PIPELINE_ARN = "PipelineArn"
CONFIG = "Config"
START_BUILD = "StartBuild"

#: Physical resource IDs of presets are ``amistate:<preset>``.
PHYSICAL_ID_PREFIX = "amistate:"
#: A Config whose JSON is larger than this cannot fit an SSM parameter
#: (8 KB, Advanced tier) once ``amiId`` is added.
MAX_CONFIG_BYTES = 8000


class InvalidProperties(AmistateError, ValueError):
    """A resource property is missing or wrong; the message names it. Nothing was written."""


@frozen
class PresetProperties:
    """Validated ResourceProperties of one preset resource."""

    preset: str
    pipeline_arn: str
    config: Mapping[str, Any]
    start_build: bool = True

    @property
    def physical_id(self) -> str:
        return physical_id(self.preset)


@frozen
class DeployResult:
    """What a Create/Update/Delete did; ``data`` becomes the resource's ``Data``."""

    physical_id: str
    action: str
    preset: str | None = None
    build_arn: str | None = None
    state_created: bool = False
    data: Mapping[str, str] = field(factory=dict)


def physical_id(preset: str) -> str:
    """The stable PhysicalResourceId of a preset's resource."""
    return f"{PHYSICAL_ID_PREFIX}{preset}"


def parse_properties(props: object, where: str = "ResourceProperties") -> PresetProperties:
    """Validate every property; raise :class:`InvalidProperties` naming the first bad one."""
    if not isinstance(props, Mapping):
        raise InvalidProperties(f"{where}: expected an object, got {type(props).__name__}")
    try:
        preset = validate_preset(props.get(PRESET_NAME))
    except InvalidPresetName as exc:
        detail = "required" if props.get(PRESET_NAME) is None else str(exc)
        raise InvalidProperties(f"{PRESET_NAME}: {detail}") from None

    pipeline = props.get(PIPELINE_ARN)
    if not isinstance(pipeline, str) or not is_pipeline_arn(pipeline):
        shown = "missing" if pipeline is None else f"{str(pipeline)[:200]!r} is not"
        raise InvalidProperties(
            f"{PIPELINE_ARN}: {shown} an Image Builder pipeline ARN "
            "(arn:<partition>:imagebuilder:<region>:<account>:image-pipeline/<name>)"
        )
    return PresetProperties(
        preset=preset,
        pipeline_arn=pipeline,
        config=_config(props.get(CONFIG)),
        start_build=_start_build(props.get(START_BUILD, "true")),
    )


def _config(value: object) -> dict[str, Any]:
    if value is None:
        raise InvalidProperties(f"{CONFIG}: required (the preset's configuration as JSON text)")
    if not isinstance(value, str):
        raise InvalidProperties(
            f"{CONFIG}: expected a JSON object in a string, got {_json_type(value)} "
            "(CloudFormation turns numbers and booleans in properties into strings: "
            "pass the configuration JSON-encoded, e.g. JSON.stringify / json.dumps)"
        )
    try:
        config = load_object(value, CONFIG)
    except InvalidConfig as exc:
        raise InvalidProperties(str(exc)) from None
    size = len(dump_object(config).encode())
    if size > MAX_CONFIG_BYTES:
        raise InvalidProperties(
            f"{CONFIG}: {size} bytes of JSON, more than {MAX_CONFIG_BYTES} "
            "(an SSM parameter holds at most 8 KB)"
        )
    return config


def _start_build(value: object) -> bool:
    if value is True or value == "true":
        return True
    if value is False or value == "false":
        return False
    shown = json.dumps(value)[:40] if _json_type(value) != "unknown" else type(value).__name__
    raise InvalidProperties(f'{START_BUILD}: expected "true" or "false", got {shown}')


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return "unknown"


def client_token(*parts: str) -> str:
    """A deterministic Image Builder clientToken (at most 36 characters).

    Built from the request's identity (StackId, LogicalResourceId, RequestId),
    so a retried delivery of the same request never starts a second build.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"amistate-{digest[:27]}"


def preset_of_physical_id(value: object) -> str | None:
    """The preset a physical ID we issued names; None for anything else."""
    if not isinstance(value, str) or not value.startswith(PHYSICAL_ID_PREFIX):
        return None
    try:
        return validate_preset(value[len(PHYSICAL_ID_PREFIX) :])
    except InvalidPresetName:
        return None


@frozen
class PresetDeployer:
    """Create, update and delete one preset through the ports."""

    catalog: PresetCatalog
    states: StateStore
    starter: PipelineStarter
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def create(self, props: PresetProperties, token: str) -> DeployResult:
        """Register, create the initial state if none exists, start a build."""
        # The state record first: registering co-locates the config on it, and a
        # record must never exist without its status.
        created = self.states.create_initial(props.preset, self.clock())
        self.catalog.register(Preset(props.preset, props.pipeline_arn, dict(props.config)))
        build = self.starter.start(props.pipeline_arn, token) if props.start_build else None
        return _result("created", props, build, created)

    def update(self, props: PresetProperties, old: object, token: str) -> DeployResult:
        """Re-register; a build only if the pipeline changed; a new name is a new preset."""
        old_props = old if isinstance(old, Mapping) else {}
        old_preset = old_props.get(PRESET_NAME)
        if old_preset != props.preset:
            result = self.create(props, token)
            return _result("replaced", props, result.build_arn, result.state_created)
        old_pipeline = old_props.get(PIPELINE_ARN)
        previous = old_pipeline if isinstance(old_pipeline, str) else None
        self.catalog.register(
            Preset(props.preset, props.pipeline_arn, dict(props.config)),
            previous_pipeline_arn=previous,
        )
        changed = previous != props.pipeline_arn
        build = (
            self.starter.start(props.pipeline_arn, token) if changed and props.start_build else None
        )
        return _result("updated", props, build, False)

    def delete(self, props: object, resource_id: object) -> DeployResult:
        """Forget the mapping; keep the state. Succeeds whatever it is given."""
        fallback = resource_id if isinstance(resource_id, str) and resource_id else "amistate"
        preset = preset_of_physical_id(resource_id)
        raw = props if isinstance(props, Mapping) else {}
        if preset is None or raw.get(PRESET_NAME) != preset:
            # Not a resource we created (a Create that failed validation answers
            # with a placeholder ID), or properties that do not name it: nothing to do.
            return DeployResult(physical_id=fallback, action="delete-nothing")
        pipeline = raw.get(PIPELINE_ARN)
        pipeline_arn = pipeline if isinstance(pipeline, str) and is_pipeline_arn(pipeline) else None
        self.catalog.unregister(preset, pipeline_arn)
        return DeployResult(
            physical_id=fallback,
            action="deleted",
            preset=preset,
            data={PRESET_NAME: preset},
        )


def _result(action: str, props: PresetProperties, build: str | None, created: bool) -> DeployResult:
    return DeployResult(
        physical_id=props.physical_id,
        action=action,
        preset=props.preset,
        build_arn=build,
        state_created=created,
        data={
            PRESET_NAME: props.preset,
            PIPELINE_ARN: props.pipeline_arn,
            "BuildArn": build or "",
        },
    )


__all__ = [
    "CONFIG",
    "PIPELINE_ARN",
    "PRESET_NAME",
    "START_BUILD",
    "DeployResult",
    "InvalidProperties",
    "PresetDeployer",
    "PresetProperties",
    "client_token",
    "parse_properties",
    "physical_id",
    "preset_of_physical_id",
]
