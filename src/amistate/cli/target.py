"""Where the operator commands act: global options, else the Lambda's own environment.

``--table``, ``--prefix``, ``--region`` and ``--endpoint-url`` override
``AMISTATE_TABLE``, ``AMISTATE_PARAMETER_PREFIX``, ``AWS_REGION`` (then
``AWS_DEFAULT_REGION``) and ``AWS_ENDPOINT_URL``. ``AMISTATE_EXTRA_REGIONS``
is read as the Lambda reads it. The result is validated by the Lambda's own
:func:`amistate.settings.load` and handed to the composition root explicitly
(:func:`amistate.compose.aws_runtime`): the CLI acts exactly as the deployed
function would, and never writes the process environment.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

from attrs import frozen

from amistate import settings as settings_module
from amistate.compose import Runtime, aws_runtime, client_factory
from amistate.errors import ConfigurationError, UsageError
from amistate.names import REGION_NAME
from amistate.settings import EXTRA_REGIONS, PARAMETER_PREFIX, TABLE, Settings
from amistate.shims import runtime


@frozen
class Options:
    table: str | None = None
    prefix: str | None = None
    region: str | None = None
    endpoint_url: str | None = None


@frozen
class Target:
    settings: Settings
    endpoint_url: str | None


def resolve(options: Options, environ: Mapping[str, str]) -> Target:
    """Validate options and environment; UsageError names the flag and the variable."""
    table = options.table or environ.get(TABLE, "")
    if not table.strip():
        raise UsageError(
            f"no table: pass --table NAME or set {TABLE} "
            "(the DynamoDB table that holds the AMI state records)"
        )
    region = options.region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise UsageError("no region: pass --region NAME or set AWS_REGION (or AWS_DEFAULT_REGION)")
    if options.table and not settings_module.TABLE_NAME.fullmatch(options.table.strip()):
        raise UsageError(
            f"--table {options.table[:80]!r}: {settings_module.table_problem(options.table)}"
        )
    if options.region and not REGION_NAME.fullmatch(options.region.strip()):
        raise UsageError(f"--region {options.region[:40]!r}: {settings_module.REGION_FORM}")
    prefix = options.prefix or environ.get(PARAMETER_PREFIX, "")
    mapping = {
        TABLE: table,
        "AWS_REGION": region,
        PARAMETER_PREFIX: prefix,
        EXTRA_REGIONS: environ.get(EXTRA_REGIONS, ""),
    }
    try:
        settings = settings_module.load(mapping)
    except ConfigurationError as exc:
        raise UsageError(_flagged(str(exc))) from None
    endpoint = options.endpoint_url or environ.get("AWS_ENDPOINT_URL") or None
    if endpoint is not None:
        parts = urllib.parse.urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(
                f"--endpoint-url / AWS_ENDPOINT_URL: {endpoint[:80]!r} is not an http(s) URL"
            )
    return Target(settings=settings, endpoint_url=endpoint)


def _flagged(message: str) -> str:
    for variable, flag in (
        (TABLE, "--table"),
        (PARAMETER_PREFIX, "--prefix"),
        ("AWS_REGION", "--region"),
    ):
        if message.startswith(variable) or (flag == "--region" and "region" in message):
            return f"{flag} / {message}"
    return message


def open_runtime(target: Target) -> Runtime:
    """The Lambda's runtime for ``target`` (AWS adapters), installed for the handler too."""
    # Imported here: `amistate --help` must not pay for boto3. A session of its
    # own per run: the process's shared clients may point elsewhere.
    import boto3.session

    rt = aws_runtime(target.settings, client_factory(boto3.session.Session(), target.endpoint_url))
    runtime.configure(rt)
    return rt


__all__ = ["Options", "Target", "UsageError", "open_runtime", "resolve"]
