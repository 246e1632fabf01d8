"""The shims' per-process runtime: built once, at the first invocation.

The first invocation reads the environment and the function's own account and
partition (``context.invoked_function_arn``) with :func:`amistate.core.settings.load`,
the one settings function of every entry point, and asks the composition root
(:func:`amistate_adapters.runtime.aws_runtime`) for the AWS runtime.
Tests, the CLI and the demo may install a prebuilt :class:`Runtime` with
:func:`configure` and drop it with :func:`reset`.
"""

from __future__ import annotations

import threading
from typing import Any

from amistate.core import settings as settings_module
from amistate.shims import logs
from amistate.wiring.compose import CallCounter, Runtime, from_ports

_lock = threading.Lock()
_current: Runtime | None = None


def from_environment(function_arn: object = None) -> Runtime:
    """The production wiring: settings from the environment, owner from the function's ARN."""
    # Imported here: the handler's import must not pay for boto3 and the adapters.
    from amistate_adapters.runtime import aws_runtime

    return aws_runtime(settings_module.load(function_arn=function_arn))


def get(context: Any) -> Runtime:
    """The process's runtime, built at the first call (ConfigurationError if misconfigured)."""
    global _current
    with _lock:
        if _current is None:
            logs.configure_level()
            logs.quiet_aws_wire()
            _current = from_environment(getattr(context, "invoked_function_arn", None))
        return _current


def configure(runtime: Runtime) -> None:
    """Install a prebuilt runtime (tests; or an embedding application)."""
    global _current
    with _lock:
        _current = runtime


def reset() -> None:
    """Forget the runtime: the next invocation builds a new one from the environment."""
    global _current
    with _lock:
        _current = None


__all__ = ["CallCounter", "Runtime", "configure", "from_environment", "from_ports", "get", "reset"]
