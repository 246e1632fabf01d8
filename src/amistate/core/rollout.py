"""The rollout rules: where a newer good build goes, when a candidate goes live,
and what a rejection falls back to. Pure.

* **Policy.** ``immediate`` (the default): a newer good build goes live at once.
  ``manual`` and ``soak``: it becomes the preset's *candidate* while the preset
  has a live AMI (:func:`slot_for`); the first good build goes live at once,
  since there is nothing to protect. A newer good build replaces a waiting
  candidate; a failure changes neither.
* **Promotion.** ``soak``: the candidate goes live once ``SoakTime`` has passed
  since its build completed (:func:`due`, with the caller's clock); ``manual``:
  when an operator promotes it. ``immediate`` promotes a candidate left from
  an earlier policy at the next write. A pin holds over both: the record's
  live AMI moves, the parameters keep the pinned one.
* **Rejection.** A rejected build is never live or candidate again (it is no
  longer :attr:`~amistate.core.state.BuildRecord.good`); rejecting the live build
  falls back to the newest good build older than it (:func:`replacement`).
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from attrs import evolve

from amistate.core.state import POLICIES, AmiState, BuildRecord, Policy, Rollout
from amistate.errors import InvalidProperties

if TYPE_CHECKING:
    from amistate.core.state_parts import Rejection

Slot = Literal["live", "candidate"]


@functools.cache
def _duration() -> re.Pattern[str]:
    """CloudFormation's ISO-8601 durations, in fixed units only (weeks, days, hours,
    minutes, seconds): years and months have no fixed length. Compiled at first use:
    only a soak needs it."""
    return re.compile(
        r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
        r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?",
        re.ASCII,
    )


def parse_duration(value: object, field: str) -> timedelta:
    """An ISO-8601 duration (``PT6H``, ``P1DT12H``, ``P2W``), strictly:
    :class:`~amistate.errors.InvalidProperties` naming ``field`` otherwise."""
    if not isinstance(value, str):
        raise InvalidProperties(f"{field}: expected an ISO-8601 duration such as PT6H")
    match = _duration().fullmatch(value)
    if value in ("P", "PT") or match is None:
        raise InvalidProperties(
            f"{field}: {value[:40]!r} is not an ISO-8601 duration in weeks, days, hours, "
            "minutes or seconds (e.g. PT6H, P1DT12H)"
        )
    parts = {name: int(number) for name, number in match.groupdict().items() if number}
    duration = timedelta(**parts)
    if duration <= timedelta(0):
        raise InvalidProperties(f"{field}: {value!r} is no time at all; use a longer duration")
    return duration


def format_duration(duration: timedelta) -> str:
    """The ISO-8601 text of a duration (``PT6H``, ``P1DT30M``): what the record keeps."""
    days, rest = divmod(int(duration.total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{clock}" if clock else "")


def parse_rollout(policy: object, soak: object, policy_field: str, soak_field: str) -> Rollout:
    """The rollout from its two inputs (None: not given); errors name the field."""
    chosen = "immediate" if policy is None else policy
    if chosen not in POLICIES:
        raise InvalidProperties(
            f"{policy_field}: expected one of {', '.join(POLICIES)}, got {str(policy)[:40]!r}"
        )
    name: Policy = chosen
    if name != "soak":
        if soak is not None:
            raise InvalidProperties(f"{soak_field}: only with {policy_field} soak")
        return Rollout(name)
    if soak is None:
        raise InvalidProperties(f"{soak_field}: required with {policy_field} soak (e.g. PT6H)")
    return Rollout("soak", parse_duration(soak, soak_field))


def slot_for(record: AmiState | None) -> Slot:
    """Where a good build newer than the live AMI goes under ``record``'s policy."""
    if record is None or record.rollout.policy == "immediate" or record.ami_id is None:
        return "live"
    return "candidate"


def due(record: AmiState, now: datetime) -> bool:
    """Whether the waiting candidate goes live now (``immediate``: at once, a
    candidate an earlier policy left; ``soak``: its soak has passed since its
    build completed; ``manual``: never by itself)."""
    waiting = record.waiting
    if waiting is None:
        return False
    rollout = record.rollout
    if rollout.policy == "immediate":
        return True
    if rollout.policy == "soak" and rollout.soak is not None:
        return now - waiting.completed_at >= rollout.soak
    return False


def replacement(record: AmiState, rejected: BuildRecord) -> BuildRecord | None:
    """What the live AMI falls back to when ``rejected`` is the live build: the
    newest good build older than it; None when it is not live (nothing moves)."""
    if rejected.key != record.ami_key:
        return None
    from amistate.core.builds import good_builds

    older = [b for b in good_builds(record.history.values()) if b.key < rejected.key]
    return older[0] if older else None


def with_rejection(record: AmiState, key: str, rejection: Rejection) -> AmiState:
    """``record`` with its history entry ``key`` rejected, and without its candidate if
    that is the build: what a rejection writes, the fall-back (:func:`replacement`) aside."""
    new = record
    if key in record.history:
        history = {**record.history, key: evolve(record.history[key], rejection=rejection)}
        new = evolve(new, history=history)
    if record.candidate is not None and record.candidate.key == key:
        new = evolve(new, candidate=None)
    return new


__all__ = [
    "Slot",
    "due",
    "format_duration",
    "parse_duration",
    "parse_rollout",
    "replacement",
    "slot_for",
    "with_rejection",
]
