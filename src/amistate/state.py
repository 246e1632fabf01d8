"""The AMI state record: one per preset, ``PK=AMI#<preset>``, ``SK=LATEST``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from attrs import field, frozen

Status = Literal["building", "ready", "failed"]

#: The ordering key of a record no event has touched yet; every event is newer.
NO_KEY = ""


@frozen
class AmiState:
    """What amistate knows about one preset.

    Two last-writer-wins registers live on the record, each with its own
    ordering key (see :mod:`amistate.rules`):

    * the *status* register (``status``, ``updated_at``, ``build_id``,
      ``reason``) follows the newest terminal event, keyed by ``order_key``;
    * the *AMI* register (``ami_id``, ``amis``) follows the newest successful
      event, keyed by ``ami_key``. A failure never clears it: the record keeps
      the last good AMI, exactly as SSM does.

    ``config`` is the preset's configuration, co-located on the record so the
    write that applies an event also returns what the SSM merge needs.
    """

    preset: str
    status: Status = "building"
    ami_id: str | None = None
    updated_at: datetime | None = None
    build_id: str | None = None
    reason: str | None = None
    order_key: str = NO_KEY
    ami_key: str = NO_KEY
    amis: Mapping[str, str] = field(factory=dict)
    config: Mapping[str, Any] | None = None
    pipeline_arn: str | None = None

    def ami_for(self, region: str, home_region: str) -> str | None:
        """The AMI this region's parameter holds: ``ami_id`` at home, that region's elsewhere."""
        return self.ami_id if region == home_region else self.amis.get(region)
