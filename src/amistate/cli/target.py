"""Where the operator commands act: global options, else the Lambda's own environment.

``--table``, ``--prefix``, ``--region`` and ``--endpoint-url`` override
``AMISTATE_TABLE``, ``AMISTATE_PARAMETER_PREFIX``, ``AWS_REGION`` (then
``AWS_DEFAULT_REGION``) and ``AWS_ENDPOINT_URL``. ``AMISTATE_EXTRA_REGIONS``
is read as the Lambda reads it. The result is validated by the Lambda's own
:func:`amistate.shims.config.load`, then written back into this process's
environment so the Lambda's own wiring (:func:`amistate.shims.runtime.from_environment`)
builds the ports: the CLI acts exactly as the deployed function would.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping, MutableMapping

from attrs import frozen

from amistate.shims import config, runtime
from amistate.shims.config import ConfigurationError, EnvConfig


class UsageError(Exception):
    """A wrong or missing option; the CLI exits 2."""


@frozen
class Options:
    table: str | None = None
    prefix: str | None = None
    region: str | None = None
    endpoint_url: str | None = None


@frozen
class Target:
    env: EnvConfig
    endpoint_url: str | None


def resolve(options: Options, environ: Mapping[str, str]) -> Target:
    """Validate options and environment; UsageError names the flag and the variable."""
    table = options.table or environ.get(config.TABLE, "")
    if not table.strip():
        raise UsageError(
            f"no table: pass --table NAME or set {config.TABLE} "
            "(the DynamoDB table that holds the AMI state records)"
        )
    region = options.region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise UsageError("no region: pass --region NAME or set AWS_REGION (or AWS_DEFAULT_REGION)")
    prefix = options.prefix or environ.get(config.PARAMETER_PREFIX, "")
    mapping = {
        config.TABLE: table,
        "AWS_REGION": region,
        config.PARAMETER_PREFIX: prefix,
        config.EXTRA_REGIONS: environ.get(config.EXTRA_REGIONS, ""),
    }
    try:
        env = config.load(mapping)
    except ConfigurationError as exc:
        raise UsageError(_flagged(str(exc))) from None
    endpoint = options.endpoint_url or environ.get("AWS_ENDPOINT_URL") or None
    if endpoint is not None:
        parts = urllib.parse.urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(
                f"--endpoint-url / AWS_ENDPOINT_URL: {endpoint[:80]!r} is not an http(s) URL"
            )
    return Target(env=env, endpoint_url=endpoint)


def _flagged(message: str) -> str:
    for variable, flag in (
        (config.TABLE, "--table"),
        (config.PARAMETER_PREFIX, "--prefix"),
        ("AWS_REGION", "--region"),
    ):
        if message.startswith(variable) or (flag == "--region" and "region" in message):
            return f"{flag} / {message}"
    return message


def export(target: Target, environ: MutableMapping[str, str]) -> None:
    """Write the target into ``environ`` the way the Lambda's environment holds it."""
    env = target.env
    environ[config.TABLE] = env.table
    environ["AWS_REGION"] = env.region
    environ[config.PARAMETER_PREFIX] = env.parameter_prefix
    environ[config.EXTRA_REGIONS] = ",".join(env.extra_regions)
    if target.endpoint_url:
        environ["AWS_ENDPOINT_URL"] = target.endpoint_url


def open_runtime(target: Target) -> runtime.Runtime:
    """The Lambda's runtime for ``target`` (AWS adapters), installed for the handler too."""
    export(target, os.environ)
    # Imported here: `amistate --help` must not pay for boto3.
    from amistate_adapters import clients

    clients.clear()
    rt = runtime.from_environment(account=None)
    runtime.configure(rt)
    return rt


__all__ = ["Options", "Target", "UsageError", "open_runtime", "resolve"]
