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

from amistate.errors import AwsRequestRejected, TableNotFound, UnknownBuild

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


#: DynamoDB's answer for a table that does not exist in the client's region and account.
RESOURCE_NOT_FOUND = "ResourceNotFoundException"


@contextmanager
def table_errors(what: str, table: str, region: str | None) -> Iterator[None]:
    """:func:`permanent_errors` for a DynamoDB call on ``table``, and a missing
    table (``ResourceNotFoundException``) as :class:`TableNotFound` naming it and
    ``region``."""
    try:
        with permanent_errors(what):
            yield
    except ClientError as exc:
        if error_code(exc) == RESOURCE_NOT_FOUND:
            raise TableNotFound(table, region) from exc
        raise


__all__ = [
    "PERMANENT_CODES",
    "RESOURCE_NOT_FOUND",
    "AwsRequestRejected",
    "TableNotFound",
    "UnknownBuild",
    "error_code",
    "permanent_errors",
    "table_errors",
]
