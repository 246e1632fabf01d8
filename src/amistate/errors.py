"""Every exception amistate raises on purpose.

Callers catch :class:`AmistateError` for "amistate refused this input"; any
other exception (botocore's included) is a transient or unexpected failure that
should propagate so Lambda retries the event.
"""

from __future__ import annotations


class AmistateError(Exception):
    """Base class: a permanent, documented refusal. Nothing was written."""


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


class NoAmiForRegion(AmistateError):
    """An AVAILABLE build was not distributed to a region the preset needs."""


class UnknownPreset(AmistateError, LookupError):
    """No state or configuration is recorded for this preset."""
