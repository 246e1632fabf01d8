"""The shims' configuration: environment variables only (see docs/configuration.md)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from attrs import frozen

from amistate.errors import AmistateError, InvalidPresetName
from amistate.names import DEFAULT_PARAMETER_PREFIX, validate_prefix

TABLE = "AMISTATE_TABLE"
PARAMETER_PREFIX = "AMISTATE_PARAMETER_PREFIX"
EXTRA_REGIONS = "AMISTATE_EXTRA_REGIONS"
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
_TABLE = re.compile(r"[A-Za-z0-9_.-]{3,255}|arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/.+")


class ConfigurationError(AmistateError):
    """The function's environment is incomplete or wrong; the message says how to fix it."""


@frozen
class EnvConfig:
    """What the environment says, validated."""

    table: str
    region: str
    parameter_prefix: str = DEFAULT_PARAMETER_PREFIX
    extra_regions: tuple[str, ...] = ()


def load(environ: Mapping[str, str] | None = None) -> EnvConfig:
    """Read and validate the environment; raise :class:`ConfigurationError` naming the variable."""
    env = os.environ if environ is None else environ
    table = env.get(TABLE, "").strip()
    if not table:
        raise ConfigurationError(
            f"{TABLE} is not set: set it to the name of the DynamoDB table that holds "
            "the AMI state records (the stack's table)"
        )
    if not _TABLE.fullmatch(table):
        raise ConfigurationError(f"{TABLE}={table[:80]!r} is not a DynamoDB table name or ARN")

    region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
    if not _REGION.fullmatch(region):
        raise ConfigurationError(
            "no AWS region: set AWS_REGION (Lambda sets it) or AWS_DEFAULT_REGION"
            + (f"; got {region[:40]!r}" if region else "")
        )

    prefix = env.get(PARAMETER_PREFIX, "").strip() or DEFAULT_PARAMETER_PREFIX
    try:
        prefix = validate_prefix(prefix.rstrip("/") or prefix)
    except InvalidPresetName as exc:
        raise ConfigurationError(f"{PARAMETER_PREFIX}: {exc}") from None

    extra: list[str] = []
    for part in env.get(EXTRA_REGIONS, "").split(","):
        name = part.strip()
        if not name:
            continue
        if not _REGION.fullmatch(name):
            raise ConfigurationError(
                f"{EXTRA_REGIONS}: {name[:40]!r} is not a region name "
                "(expected a comma-separated list such as 'eu-west-1,us-east-1')"
            )
        if name != region and name not in extra:
            extra.append(name)
    return EnvConfig(
        table=table, region=region, parameter_prefix=prefix, extra_regions=tuple(extra)
    )


__all__ = ["EXTRA_REGIONS", "PARAMETER_PREFIX", "TABLE", "ConfigurationError", "EnvConfig", "load"]
