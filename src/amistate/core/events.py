"""The one typed event the core works on, whatever shape it arrived in."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from attrs import frozen

from amistate.core.amis import Amis
from amistate.core.arns import BuildArn

Origin = Literal["eventbridge", "sns", "reconcile"]


@frozen
class BuildEvent:
    """An Image Builder build reached ``status`` at ``time``.

    ``created`` (when the build started: ``dateCreated``) orders builds;
    ``time`` is only shown. ``amis``, ``pipeline_arn`` and ``created`` are
    ``None`` when the input did not carry them (EventBridge events never do:
    they come from ``GetImage``).
    """

    build: BuildArn
    status: str
    time: datetime  # timezone-aware, UTC
    reason: str | None = None
    amis: Amis | None = None  # every account's copies; no home AMI yet
    pipeline_arn: str | None = None
    origin: Origin = "eventbridge"
    created: datetime | None = None

    @property
    def account(self) -> str:
        return self.build.account
