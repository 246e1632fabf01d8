"""Every exception amistate raises on purpose, all under :class:`AmistateError`.

Callers catch :class:`AmistateError` for anything amistate raised itself. Most
are permanent refusals (retrying the same input cannot help); the one
transient kind is :class:`TransientError`, which the shims let Lambda retry
like any AWS error (see :func:`is_permanent`).
"""

from __future__ import annotations


class AmistateError(Exception):
    """Base class of every amistate exception. Unless transient: a permanent
    refusal, and nothing was written."""


class TransientError(AmistateError, RuntimeError):
    """A failure that a retry of the same input may not meet again."""


def is_permanent(exc: BaseException) -> bool:
    """True for an amistate refusal that a retry would meet again."""
    return isinstance(exc, AmistateError) and not isinstance(exc, TransientError)


class MalformedEvent(AmistateError, ValueError):
    """The input is not a well-formed Image Builder event.

    ``path`` names the offending field (``detail.state.status``,
    ``Records[0].Sns.Message``, ...) so the message alone says what to fix.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


class InvalidPresetName(AmistateError, ValueError):
    """A preset name that could not be safely used in a key or parameter path."""


class InvalidConfig(AmistateError, ValueError):
    """A preset configuration (or an SSM value) that is not a JSON object."""


class InvalidProperties(AmistateError, ValueError):
    """A custom resource request or property is missing or wrong; the message names it.
    Nothing was written."""


class ConfigurationError(AmistateError):
    """The function's environment is incomplete or wrong; the message says how to fix it."""


class TableNotFound(ConfigurationError, LookupError):
    """DynamoDB has no such table here (ResourceNotFoundException): a wrong table
    name, region or account. The message names the table and the region, and
    where each came from (a front end that takes them otherwise, such as the
    CLI's flags, says so with :meth:`explain`)."""

    def __init__(self, table: str, region: str | None) -> None:
        self.table = table
        self.region = region
        super().__init__(self.explain("AMISTATE_TABLE", "AWS_REGION"))

    def explain(self, table_from: str, region_from: str) -> str:
        """The message, naming ``table_from`` and ``region_from`` as the sources."""
        where = f"in region {self.region}" if self.region else "in the configured region"
        return (
            f"DynamoDB table {self.table!r} not found {where}: check the table name "
            f"({table_from}), the region ({region_from}) and the AWS account of the "
            "credentials (the table must be the stack's, in its account and region)"
        )


class UnknownBuildStart(AmistateError):
    """Neither the event nor GetImage says when the build started: it cannot be ordered."""


class PinRefused(AmistateError, ValueError):
    """A pin, unpin or rollback that would not name one of the preset's good builds."""


class NoCandidate(AmistateError, LookupError):
    """A promote (or a reject without a target) of a preset no candidate waits for."""


class RejectRefused(AmistateError, ValueError):
    """A reject that names no good build of the preset, or that would leave nothing live."""


class NoAmiForRegion(AmistateError):
    """An AVAILABLE build was not distributed to a region the preset needs."""


class UnknownPreset(AmistateError, LookupError):
    """No state or configuration is recorded for this preset."""


class PresetNotBuilt(AmistateError, LookupError):
    """The preset is registered but has no good build yet: there is no AMI to launch.

    Not an :class:`UnknownPreset`: the name is right, and the first good build
    fixes it without anyone acting."""


class UnknownBuild(AmistateError, LookupError):
    """Image Builder has no image for this build ARN (GetImage: ResourceNotFoundException)."""


class AccountUnreachable(AmistateError):
    """A target account refused amistate (AccessDenied on its role, or on a call made
    with it). Permanent for this event: the other accounts carry on, and the next event
    or reconcile run reaches this one once its role lets amistate in."""

    def __init__(self, account: str, role_arn: str, detail: str) -> None:
        self.account = account
        self.role_arn = role_arn
        super().__init__(
            f"account {account}: access denied through role {role_arn} ({detail}); deploy "
            "the target role there, trusting this deployment's functions"
        )


class AwsRequestRejected(AmistateError):
    """AWS refused a request as invalid; the same request would fail again."""


class ContentionError(TransientError):
    """Too many concurrent writers; transient, so the event is retried."""


class UsageError(AmistateError):
    """A wrong or missing command-line option; the CLI exits 2."""


class InputError(AmistateError):
    """A replay input that is not JSON or JSON Lines; the message names file and line."""


__all__ = [
    "AccountUnreachable",
    "AmistateError",
    "AwsRequestRejected",
    "ConfigurationError",
    "ContentionError",
    "InputError",
    "InvalidConfig",
    "InvalidPresetName",
    "InvalidProperties",
    "MalformedEvent",
    "NoAmiForRegion",
    "NoCandidate",
    "PinRefused",
    "PresetNotBuilt",
    "RejectRefused",
    "TableNotFound",
    "TransientError",
    "UnknownBuild",
    "UnknownBuildStart",
    "UnknownPreset",
    "UsageError",
    "is_permanent",
]
