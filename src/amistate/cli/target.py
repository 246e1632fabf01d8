"""Where the operator commands act: the Lambdas' own settings, with the flags on top.

The settings come from :func:`amistate.core.settings.load`, the function every
entry point uses, over the whole environment (``AMISTATE_HISTORY_LIMIT``,
``AMISTATE_EXTRA_REGIONS``, and any setting added later, exactly as the
functions read them). ``--table``, ``--region`` and ``--prefix`` are
:class:`~amistate.core.settings.Overrides` of ``AMISTATE_TABLE``, ``AWS_REGION``
and ``AMISTATE_PARAMETER_PREFIX``; ``--endpoint-url`` of ``AWS_ENDPOINT_URL``
(the clients', not a setting). The result goes to the composition root
explicitly (:func:`amistate_adapters.runtime.aws_runtime`); the process environment is
never written.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

from attrs import frozen

from amistate.core import settings as settings_module
from amistate.core.overrides import Overrides
from amistate.core.settings import TABLE, Settings
from amistate.errors import ConfigurationError, UsageError
from amistate.shims import runtime
from amistate.wiring.compose import Runtime

#: How the CLI names each override in its errors.
FLAGS = {"table": "--table", "region": "--region", "parameter_prefix": "--prefix"}


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
    """Validate options and environment; UsageError names the flag or the variable."""
    if not (options.table or environ.get(TABLE, "")).strip():
        raise UsageError(
            f"no table: pass --table NAME or set {TABLE} "
            "(the DynamoDB table that holds the AMI state records)"
        )
    if not (options.region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")):
        raise UsageError("no region: pass --region NAME or set AWS_REGION (or AWS_DEFAULT_REGION)")
    overrides = Overrides(
        table=options.table, region=options.region, parameter_prefix=options.prefix, names=FLAGS
    )
    try:
        settings = settings_module.load(environ, overrides)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    endpoint = options.endpoint_url or environ.get("AWS_ENDPOINT_URL") or None
    if endpoint is not None:
        parts = urllib.parse.urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(
                f"--endpoint-url / AWS_ENDPOINT_URL: {endpoint[:80]!r} is not an http(s) URL"
            )
    return Target(settings=settings, endpoint_url=endpoint)


def open_runtime(target: Target) -> Runtime:
    """The Lambda's runtime for ``target`` (AWS adapters), installed for the handler too."""
    # Imported here: `amistate --help` must not pay for boto3. A session of its
    # own per run: the process's shared clients may point elsewhere.
    import boto3.session
    from amistate_adapters import runtime as aws

    session = boto3.session.Session()
    rt = aws.aws_runtime(target.settings, aws.client_factory(session, target.endpoint_url))
    runtime.configure(rt)
    return rt


__all__ = ["Options", "Target", "UsageError", "open_runtime", "resolve"]
