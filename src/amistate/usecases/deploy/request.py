"""A raw CloudFormation custom resource request -> one typed :class:`DeployRequest`.

This is the custom resource's counterpart of :mod:`amistate.core.parsing`: the
only place that reads CloudFormation's request vocabulary. Create and Update
properties are validated in full; Delete reads its properties leniently (it
also runs after a Create that failed validation, and must never fail on them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Literal

from attrs import frozen

from amistate.errors import InvalidProperties
from amistate.usecases.deploy.properties import (
    PIPELINE_ARN,
    PRESET_NAME,
    PresetProperties,
    parse_properties,
    preset_of_physical_id,
)

RequestKind = Literal["Create", "Update", "Delete"]
_KINDS: tuple[RequestKind, ...] = ("Create", "Update", "Delete")


@frozen
class PreviousPreset:
    """What properties written earlier name, read leniently (each None when unusable)."""

    preset: str | None = None
    pipeline_arn: str | None = None


@frozen
class DeployRequest:
    """One custom resource request, typed.

    ``properties``: validated, for Create and Update (None for Delete).
    ``previous``: Update's ``OldResourceProperties``, or Delete's own properties.
    ``physical_id``: the resource's ID as CloudFormation holds it (Update, Delete).
    ``client_token``: derived from the request's identity, so a retried
    delivery never starts a second build.
    """

    kind: RequestKind
    client_token: str
    properties: PresetProperties | None = None
    previous: PreviousPreset = PreviousPreset()
    physical_id: str | None = None
    request_id: object = None
    logical_id: object = None

    @property
    def existing_preset(self) -> str | None:
        """The preset the physical ID names, if amistate issued it (else None)."""
        return preset_of_physical_id(self.physical_id)


def client_token(*parts: str) -> str:
    """A deterministic Image Builder clientToken (at most 36 characters).

    Built from the request's identity (StackId, LogicalResourceId, RequestId),
    so a retried delivery of the same request never starts a second build.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"amistate-{digest[:27]}"


def request_kind(event: object) -> RequestKind | None:
    """The request's RequestType when it is one amistate handles."""
    kind = event.get("RequestType") if isinstance(event, Mapping) else None
    return next((k for k in _KINDS if k == kind), None)


def parse_request(event: object) -> DeployRequest:
    """Type the raw request; raise InvalidProperties naming what is wrong."""
    if not isinstance(event, Mapping):
        raise InvalidProperties(
            f"expected a custom resource event object, got {type(event).__name__}"
        )
    kind = request_kind(event)
    if kind is None:
        got = event.get("RequestType")
        raise InvalidProperties(f"RequestType: expected Create, Update or Delete, got {got!r}")
    token = client_token(
        str(event.get("StackId", "")),
        str(event.get("LogicalResourceId", "")),
        str(event.get("RequestId", "")),
    )
    existing = event.get("PhysicalResourceId")
    props = event.get("ResourceProperties")
    return DeployRequest(
        kind=kind,
        client_token=token,
        properties=None if kind == "Delete" else parse_properties(props),
        previous=_previous(props if kind == "Delete" else event.get("OldResourceProperties")),
        physical_id=existing if isinstance(existing, str) and existing else None,
        request_id=event.get("RequestId"),
        logical_id=event.get("LogicalResourceId"),
    )


def _previous(props: object) -> PreviousPreset:
    raw = props if isinstance(props, Mapping) else {}
    preset, pipeline = raw.get(PRESET_NAME), raw.get(PIPELINE_ARN)
    return PreviousPreset(
        preset=preset if isinstance(preset, str) else None,
        pipeline_arn=pipeline if isinstance(pipeline, str) else None,
    )


__all__ = [
    "DeployRequest",
    "PreviousPreset",
    "RequestKind",
    "client_token",
    "parse_request",
    "request_kind",
]
