"""The plain AMI parameter a launch template resolves (``resolve:ssm:<name>``).

A launch template cannot read ``amiId`` out of the runners' JSON parameter: it
resolves only a parameter whose whole value is an AMI ID. A preset may
therefore name one more parameter (``AmiParameter``): a ``String`` with
``DataType`` ``aws:ec2:image`` holding the preset's live AMI
(:meth:`amistate.state.AmiState.ami_for`, pin included) in every region
whose JSON parameter holds one. The service writes it in the same
write-and-confirm loop as the JSON parameter, so it follows events, deploys,
pins, fall-backs and reconcile runs alike.

This module holds what is true of that parameter whatever the store: which
names are acceptable, and which existing parameters amistate must not write
over (SSM cannot turn a parameter to or from ``aws:ec2:image``). What amistate
does with it through the ports is :mod:`amistate.usecases.ami_parameter`.
"""

from __future__ import annotations

import functools
import re

from amistate.errors import InvalidConfig

#: The data type that makes SSM check the value is an AMI and lets EC2 resolve it.
AMI_DATA_TYPE = "aws:ec2:image"
#: Parameter Store's name rules: these characters, a name with ``/`` fully
#: qualified (leading ``/``, no empty level), at most 15 levels, 1011 characters.
MAX_NAME = 1011
MAX_LEVELS = 15
_RESERVED = ("aws", "ssm")


@functools.cache
def _name() -> re.Pattern[str]:
    """A parameter name's characters and levels, compiled at first use (deploys check
    names; the event path never does)."""
    return re.compile(r"[A-Za-z0-9_.-]+|(/[A-Za-z0-9_.-]+)+")


def validate_name(name: object, where: str = "AmiParameter") -> str:
    """``name`` if Parameter Store accepts it as a parameter name, else
    :class:`InvalidConfig` starting with ``where``."""
    if not isinstance(name, str):
        raise InvalidConfig(f"{where}: expected a parameter name, got {type(name).__name__}")
    shown = repr(name[:80])
    if not _name().fullmatch(name) or len(name) > MAX_NAME:
        raise InvalidConfig(
            f"{where}: {shown} is not an SSM parameter name (1-{MAX_NAME} characters from "
            "A-Z a-z 0-9 _ . - and /, a name with / starting with it, e.g. "
            "/spot-runner/amis/linux-x64)"
        )
    if name.count("/") > MAX_LEVELS:
        raise InvalidConfig(f"{where}: {shown} has more than {MAX_LEVELS} levels")
    if name.lstrip("/").lower().startswith(_RESERVED):
        raise InvalidConfig(f"{where}: {shown}: names starting with aws or ssm are reserved")
    return name


def check_outside(name: str, prefix: str, where: str = "AmiParameter") -> None:
    """Refuse a name under the JSON parameters' ``prefix``: it would be (or
    could become) a preset's JSON parameter, and the two writers would fight."""
    if name == prefix or name.startswith(prefix + "/"):
        raise InvalidConfig(
            f"{where}: {name[:80]!r} is under {prefix}, where the presets' JSON "
            "parameters live: name a parameter outside it (e.g. /spot-runner/amis/<preset>)"
        )


def unwritable(name: str, kind: str, data_type: str | None) -> str | None:
    """Why amistate must not write over an existing parameter (None: it may).

    SSM refuses to change a parameter's data type to ``aws:ec2:image``, and a
    SecureString or StringList is someone else's value, never an AMI parameter.
    """
    if kind == "String" and data_type == AMI_DATA_TYPE:
        return None
    what = f"a {kind}" if kind != "String" else f"a String of DataType {data_type or 'text'}"
    return (
        f"SSM parameter {name} exists as {what}; amistate keeps only a String of "
        f"DataType {AMI_DATA_TYPE} (SSM cannot change a parameter's data type): delete it "
        "or name another AmiParameter"
    )


__all__ = [
    "AMI_DATA_TYPE",
    "MAX_LEVELS",
    "MAX_NAME",
    "check_outside",
    "unwritable",
    "validate_name",
]
