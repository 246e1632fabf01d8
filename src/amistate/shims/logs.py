"""One structured JSON log line per decision, through stdlib logging.

Fields are chosen by the caller from a fixed vocabulary (see
docs/configuration.md); configuration values never appear in them, and
strings are cut so a hostile event cannot flood the log.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

LOGGER_NAME = "amistate"
LOG_LEVEL = "AMISTATE_LOG_LEVEL"
_MAX_TEXT = 1024

logger = logging.getLogger(LOGGER_NAME)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= _MAX_TEXT else value[:_MAX_TEXT] + "..."
    return value


def line(**fields: Any) -> str:
    """The JSON text of one log line (``None`` fields are kept as ``null``)."""
    return json.dumps(
        {key: _clean(value) for key, value in fields.items()},
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )


def decision(level: int = logging.INFO, **fields: Any) -> None:
    """Log one decision as one JSON line."""
    logger.log(level, "%s", line(**fields))


SERVICE = "amistate"
_cold = threading.Event()


def invocation_keys(context: Any, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The keys Powertools for AWS Lambda puts on every line, so operators'
    saved queries work: ``service``, ``cold_start`` (True for the first
    invocation of this process only), ``function_request_id`` and, when
    tracing is on, ``xray_trace_id``."""
    env = os.environ if environ is None else environ
    cold = not _cold.is_set()
    _cold.set()
    keys: dict[str, Any] = {
        "service": SERVICE,
        "cold_start": cold,
        "function_request_id": getattr(context, "aws_request_id", None),
    }
    trace = env.get("_X_AMZN_TRACE_ID", "")
    root = next((p[5:] for p in trace.split(";") if p.startswith("Root=")), None)
    if root:
        keys["xray_trace_id"] = root
    return keys


def configure_level(environ: Mapping[str, str] | None = None) -> None:
    """Make the decision lines visible under the Lambda runtime.

    ``AMISTATE_LOG_LEVEL`` (default ``INFO``) sets the ``amistate`` logger's
    level, unless Lambda's own log-level control (``AWS_LAMBDA_LOG_LEVEL``)
    is in use or the logger was configured already.
    """
    env = os.environ if environ is None else environ
    if logger.level != logging.NOTSET or env.get("AWS_LAMBDA_LOG_LEVEL"):
        return
    name = env.get(LOG_LEVEL, "INFO").strip().upper()
    level = logging.getLevelName(name)
    logger.setLevel(level if isinstance(level, int) else logging.INFO)


#: Loggers that print whole request and response bodies at DEBUG: config values included.
WIRE_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")
LOG_AWS_WIRE = "AMISTATE_LOG_AWS_WIRE"


def quiet_aws_wire(environ: Mapping[str, str] | None = None) -> None:
    """Keep AWS SDK wire logs (which carry SSM values) out of CloudWatch.

    Lambda's ``AWS_LAMBDA_LOG_LEVEL=DEBUG`` sets the root logger to DEBUG, and
    botocore then logs every request and response body. Unless the operator
    opts in with ``AMISTATE_LOG_AWS_WIRE=1``, those loggers stay at INFO.
    """
    env = os.environ if environ is None else environ
    if env.get(LOG_AWS_WIRE) == "1":
        return
    for name in WIRE_LOGGERS:
        wire = logging.getLogger(name)
        if wire.getEffectiveLevel() < logging.INFO:
            wire.setLevel(logging.INFO)


__all__ = [
    "LOGGER_NAME",
    "LOG_AWS_WIRE",
    "LOG_LEVEL",
    "WIRE_LOGGERS",
    "configure_level",
    "decision",
    "invocation_keys",
    "line",
    "logger",
    "quiet_aws_wire",
]
