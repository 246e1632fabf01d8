"""The preset resource's properties, validated: every one, before anything is written.

``PresetName``, ``PipelineArn``, ``Config`` (a JSON object in a string),
``StartBuild`` (``"true"``, the default, or ``"false"``), the optional
``AmiParameter`` (an SSM parameter name, :mod:`amistate.core.ami_parameter`),
``RolloutPolicy`` (``immediate``, the default, ``manual`` or ``soak``),
``SoakTime`` (an ISO-8601 duration, required with ``soak``) and ``TargetAccounts``
(12-digit account IDs: a list, or one comma-separated string) become one frozen
:class:`PresetProperties`, or :class:`~amistate.errors.InvalidProperties`
naming the first bad one. The physical ID of a preset's resource is
``amistate:<preset>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from amistate.core import ami_parameter
from amistate.core.arns import is_pipeline_arn
from amistate.core.merge import dump_object, load_object
from amistate.core.names import validate_preset
from amistate.core.rollout import parse_rollout
from amistate.core.state import Rollout
from amistate.errors import InvalidConfig, InvalidPresetName, InvalidProperties

#: The resource properties the custom resource reads (others, such as
#: CloudFormation's own ``ServiceToken``, are ignored).
PRESET_NAME = "PresetName"
PIPELINE_ARN = "PipelineArn"
CONFIG = "Config"
START_BUILD = "StartBuild"
AMI_PARAMETER = "AmiParameter"
ROLLOUT_POLICY = "RolloutPolicy"
SOAK_TIME = "SoakTime"
TARGET_ACCOUNTS = "TargetAccounts"
ACCOUNT_ID = re.compile(r"\d{12}")

#: Physical resource IDs of presets are ``amistate:<preset>``.
PHYSICAL_ID_PREFIX = "amistate:"
#: A Config whose JSON is larger than this cannot fit an SSM parameter
#: (8 KB, Advanced tier) once ``amiId`` is added.
MAX_CONFIG_BYTES = 8000


@frozen
class PresetProperties:
    """Validated ResourceProperties of one preset resource."""

    preset: str
    pipeline_arn: str
    config: Mapping[str, Any]
    start_build: bool = True
    ami_parameter: str | None = None  # the plain AMI parameter's name; None: none
    rollout: Rollout = field(factory=Rollout)
    #: Accounts whose runners read the parameter too, each with its own AMI copy; sorted.
    target_accounts: tuple[str, ...] = ()

    @property
    def physical_id(self) -> str:
        return physical_id(self.preset)


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
        ami_parameter=_ami_parameter(props.get(AMI_PARAMETER)),
        rollout=parse_rollout(
            props.get(ROLLOUT_POLICY), props.get(SOAK_TIME), ROLLOUT_POLICY, SOAK_TIME
        ),
        target_accounts=target_accounts(props.get(TARGET_ACCOUNTS), TARGET_ACCOUNTS),
    )


def _ami_parameter(value: object) -> str | None:
    if value is None:
        return None
    try:
        return ami_parameter.validate_name(value, AMI_PARAMETER)
    except InvalidConfig as exc:
        raise InvalidProperties(str(exc)) from None


def target_accounts(value: object, name: str) -> tuple[str, ...]:
    """Account IDs from a list of strings or one comma-separated string (what
    CloudFormation passes), sorted and without repeats; InvalidProperties naming
    ``name`` for anything else."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        parts: list[object] = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, list):
        parts = [p.strip() if isinstance(p, str) else p for p in value]
    else:
        raise InvalidProperties(
            f"{name}: expected a list of account IDs or one comma-separated string, "
            f"got {_json_type(value)}"
        )
    for part in parts:
        if not isinstance(part, str) or not ACCOUNT_ID.fullmatch(part):
            shown = repr(part)[:40] if isinstance(part, str) else _json_type(part)
            raise InvalidProperties(
                f"{name}: {shown} is not a 12-digit AWS account ID "
                "(such as ['111122223333', '444455556666'] or '111122223333,444455556666')"
            )
    return tuple(sorted(set(map(str, parts))))


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


def preset_of_physical_id(value: object) -> str | None:
    """The preset a physical ID we issued names; None for anything else."""
    if not isinstance(value, str) or not value.startswith(PHYSICAL_ID_PREFIX):
        return None
    try:
        return validate_preset(value[len(PHYSICAL_ID_PREFIX) :])
    except InvalidPresetName:
        return None


__all__ = [
    "AMI_PARAMETER",
    "CONFIG",
    "PHYSICAL_ID_PREFIX",
    "PIPELINE_ARN",
    "PRESET_NAME",
    "ROLLOUT_POLICY",
    "SOAK_TIME",
    "START_BUILD",
    "TARGET_ACCOUNTS",
    "InvalidProperties",
    "PresetProperties",
    "parse_properties",
    "physical_id",
    "preset_of_physical_id",
    "target_accounts",
]
