"""A due candidate goes live: the rollout step every converge starts with.

Under ``soak`` a candidate whose soak has passed (and under ``immediate`` one an
earlier policy left) is promoted by whichever writer converges the preset next:
an event, a deploy, ``sync``, a pin or a reconcile run (:func:`amistate.core.rollout.due`).
"""

from __future__ import annotations

from datetime import datetime

from amistate.core.rollout import due
from amistate.core.state import AmiState
from amistate.errors import ContentionError
from amistate.ports import StateStore

#: A promotion loses only to another writer's progress; this bounds a storm.
MAX_PROMOTIONS = 16


def advance(
    states: StateStore, preset: str, record: AmiState, now: datetime
) -> tuple[AmiState, str | None]:
    """``record`` after promoting its candidate if due at ``now`` (a conditional
    write: a racing build, promotion or rejection wins, and the newer record is
    judged again), and the build promoted (None: none)."""
    for _ in range(MAX_PROMOTIONS):
        waiting = record.waiting
        if waiting is None or not due(record, now):
            return record, None
        after = states.promote(preset, waiting)
        if after is not None:
            return after, waiting.build_id
        record = states.get(preset) or record
    raise ContentionError(f"preset {preset}: {MAX_PROMOTIONS} conflicting promotions")


__all__ = ["advance"]
