"""Checks of command-line arguments, before the first AWS call (a failure exits 2)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

from amistate.core.arns import parse_build_arn
from amistate.core.names import validate_preset
from amistate.errors import InvalidPresetName, UsageError

AMI_ID = re.compile(r"ami-[0-9a-f]{8,17}")
REASON_MAX = 256


def presets(names: Sequence[str]) -> list[str]:
    """Every PRESET argument, validated (UsageError names the argument)."""
    for name in names:
        try:
            validate_preset(name)
        except InvalidPresetName as exc:
            raise UsageError(f"PRESET: {exc}") from None
    return list(names)


def pin_target(value: str) -> str:
    """An AMI ID (``ami-0123...``) or an image build version ARN."""
    if AMI_ID.fullmatch(value):
        return value
    try:
        parse_build_arn(value)
    except ValueError:
        raise UsageError(
            f"AMI_ID|BUILD_ARN: {value[:80]!r} is neither an AMI ID (ami-0123456789abcdef0) "
            "nor an image build version ARN (arn:aws:imagebuilder:REGION:ACCOUNT:image/NAME/"
            "VERSION/BUILD); see `amistate history PRESET`"
        ) from None
    return value


def reason(value: str | None) -> str | None:
    """``--reason``: 1 to 256 printable characters."""
    if value is None:
        return None
    if not value.strip() or len(value) > REASON_MAX or not value.isprintable():
        raise UsageError(f"--reason: 1 to {REASON_MAX} printable characters, on one line")
    return value


#: Global options the local commands cannot honour, and why (refused: exit 2).
NOT_FOR = {
    "demo": (
        ("table", "region", "prefix", "endpoint_url"),
        "demo plays in its own embedded world (its table, region and parameters, on servers "
        "it starts on 127.0.0.1); use `amistate sandbox` for a local world of your own",
    ),
    "sandbox": (
        ("prefix", "endpoint_url"),
        "sandbox serves its own endpoints on 127.0.0.1 and prints the export lines for the "
        "other commands (--region and --table name what it creates; the other commands take "
        "--prefix)",
    ),
}


def local_options(args: argparse.Namespace) -> None:
    """Refuse the global options ``demo`` and ``sandbox`` cannot honour, naming the flag."""
    names, why = NOT_FOR.get(args.command, ((), ""))
    for name in names:
        if getattr(args, name, None) is not None:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag}: {why}; it takes no {flag}")


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


__all__ = ["NOT_FOR", "local_options", "pin_target", "positive_int", "presets", "reason"]
