"""One structured JSON log line per decision, through stdlib logging.

Fields are chosen by the caller from a fixed vocabulary (see
docs/configuration.md); configuration values never appear in them, and
strings are cut so a hostile event cannot flood the log.
"""

from __future__ import annotations

import json
import logging
import os
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


__all__ = ["LOGGER_NAME", "LOG_LEVEL", "configure_level", "decision", "line", "logger"]
