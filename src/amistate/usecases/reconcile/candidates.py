"""The planner's rollout steps for a waiting candidate. Pure.

A candidate whose rollout is due goes live (as the service's converge makes it
go live whenever it writes: the plan must predict what the run will find);
then a candidate still waiting whose AMI is gone for good is withdrawn
(rejected: canary runners read its AMI from the parameter, and it must never
go live). A due one whose AMI is gone is the live AMI's fallback's business.
Each returns the record as its instruction would leave it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attrs import evolve

from amistate.core.rollout import due, with_rejection
from amistate.core.state import AmiState
from amistate.core.state_parts import Rejection
from amistate.usecases.reconcile.instructions import Instruction, Promote, Withdraw

if TYPE_CHECKING:
    from amistate.usecases.reconcile.plan import World


#: AMI states that never turn launchable again: a candidate in one is withdrawn for good.
GONE: frozenset[str] = frozenset({"deregistered", "failed", "missing"})


def withdraw_vanished(
    world: World, preset: str, record: AmiState, out: list[Instruction]
) -> AmiState:
    """Reject the waiting candidate if one of its AMIs is gone for good where it
    would be used (a region of ours; a target account it has a copy in); the
    record as the rejection leaves it (no candidate, the build rejected)."""
    waiting = record.waiting
    if waiting is None or (record.pin is not None and record.pin.build_id == waiting.build_id):
        return record  # a pinned one is never rejected: its vanished AMI is a pin problem
    for place in world.places(record):
        ami = waiting.amis.at(place.region, place.account)
        if ami is None:
            continue
        state = world.images.get((place, ami), "missing")
        if state in GONE:
            out.append(Withdraw(preset, waiting, ami, state, place))
            rejection = Rejection(world.now or waiting.completed_at, withdrawn(ami, state))
            return with_rejection(record, waiting.key, rejection)
    return record


def withdrawn(ami: str, state: str) -> str:
    """The rejection's reason when a reconcile run withdraws a candidate."""
    return f"withdrawn by the reconcile run: its AMI {ami} is {state}"


def promote_due(world: World, preset: str, record: AmiState, out: list[Instruction]) -> AmiState:
    waiting = record.waiting
    # No clock: only an ``immediate`` policy's candidate is due (a soak is never zero).
    if waiting is None or not due(record, world.now or waiting.completed_at):
        return record
    out.append(Promote(preset, waiting))
    return evolve(record, candidate=None).with_live(
        waiting.build_id, waiting.key, waiting.amis, waiting.completed_at
    )


__all__ = ["GONE", "promote_due", "withdraw_vanished", "withdrawn"]
