"""A preset as deployed: what :meth:`amistate.ports.PresetCatalog.register` records.

Re-exported by :mod:`amistate.ports`; its own module because only deploys register
presets, so the event Lambda's cold start never builds the class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from amistate.core.state import Rollout


@frozen
class Preset:
    """A preset as deployed: its name, its pipeline and its configuration."""

    name: str
    pipeline_arn: str
    config: Mapping[str, Any] = field(factory=dict)
    retired_keys: tuple[str, ...] = ()  # keys earlier configs had (amistate.core.desired.retire)
    ami_parameter: str | None = None  # the plain AMI parameter (amistate.core.ami_parameter)
    rollout: Rollout = field(factory=Rollout)
    target_accounts: tuple[str, ...] = ()  # accounts that get the parameter with their copy


__all__ = ["Preset"]
