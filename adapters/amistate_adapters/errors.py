"""Errors the AWS adapters raise on purpose, and how AWS errors are classified.

The Lambda shim retries any exception that is not an
:class:`amistate.errors.AmistateError`. So the adapters let throttling, 5xx
and network errors propagate as botocore exceptions (after botocore's own
retries: retryable) and turn requests AWS refuses as invalid into
:class:`AwsRequestRejected` (permanent: retrying the same event cannot help).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, ParamValidationError

from amistate.errors import AwsRequestRejected, UnknownBuild

#: Error codes that mean "this request is wrong", never "try again later".
PERMANENT_CODES = frozenset(
    {"ValidationException", "InvalidRequestException", "InvalidParameterValue", "ValidationError"}
)


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError ("" when absent)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def permanent_errors(what: str) -> Iterator[None]:
    """Re-raise AWS validation errors from ``what`` as :class:`AwsRequestRejected`."""
    try:
        yield
    except ParamValidationError as exc:
        raise AwsRequestRejected(f"{what}: {exc}") from exc
    except ClientError as exc:
        if error_code(exc) in PERMANENT_CODES:
            raise AwsRequestRejected(f"{what}: {exc}") from exc
        raise


__all__ = [
    "PERMANENT_CODES",
    "AwsRequestRejected",
    "UnknownBuild",
    "error_code",
    "permanent_errors",
]
