"""Preset names, and the only places they become keys and parameter paths.

A preset name is validated once, here, before it reaches a DynamoDB key or an
SSM parameter name, so ``/``, ``..``, ``#`` or control characters can never
address another preset's data.
"""

from __future__ import annotations

import re

from amistate.errors import InvalidPresetName

PRESET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
DEFAULT_PARAMETER_PREFIX = "/spot-runner/configs"
#: An AWS region name (``us-west-2``, ``ap-southeast-1``): the one pattern every module uses.
REGION_PATTERN = r"[a-z]{2}(?:-[a-z]+)+-\d+"
REGION_NAME = re.compile(REGION_PATTERN)
#: Partition key prefix of the state records (``AMI#<preset>``), sort key of the record.
STATE_PREFIX = "AMI#"
_PREFIX = re.compile(r"(/[A-Za-z0-9_.-]+)+")


def validate_preset(name: object) -> str:
    """Return ``name`` if it is a valid preset name, else raise InvalidPresetName."""
    if not isinstance(name, str):
        raise InvalidPresetName(f"preset name must be a string, got {type(name).__name__}")
    # fullmatch, not match: "$" would accept a trailing newline.
    if not PRESET_NAME.fullmatch(name) or ".." in name:
        raise InvalidPresetName(
            f"invalid preset name {name[:64]!r}: use 1-128 characters from "
            "A-Z a-z 0-9 _ . -, starting with a letter or digit, without '..'"
        )
    return name


def validate_prefix(prefix: str) -> str:
    """Return a parameter prefix like ``/spot-runner/configs`` (no trailing slash)."""
    if not _PREFIX.fullmatch(prefix) or ".." in prefix:
        raise InvalidPresetName(
            f"invalid parameter prefix {prefix[:64]!r}: expected /segment[/segment...]"
        )
    return prefix


def parameter_name(prefix: str, preset: str) -> str:
    """The SSM parameter that holds ``preset``'s JSON config."""
    return f"{validate_prefix(prefix)}/{validate_preset(preset)}"


def state_pk(preset: str) -> str:
    """Partition key of the preset's AMI state record (``AMI#<preset>``)."""
    return f"{STATE_PREFIX}{validate_preset(preset)}"


STATE_SK = "LATEST"
