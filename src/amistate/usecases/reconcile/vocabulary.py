"""Each reconcile instruction's one rendering: its action, its fields, its text. Pure.

The reconcile Lambda's log line, ``amistate reconcile --json``, the CLI's text
rows and a run's counts all come from :func:`render`, so an operator learns
one name per thing (docs/cli.md, "The reconcile vocabulary"). A new
instruction gets its rendering here; ``tests/shims/test_reconcile_vocabulary.py``
fails for an instruction without one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from attrs import frozen

from amistate.core.amis import Place
from amistate.core.arns import short_build
from amistate.usecases.reconcile.plan import (
    Converge,
    FallBack,
    Feed,
    Instruction,
    Problem,
    Promote,
    Trim,
    Unreachable,
    Withdraw,
)
from amistate.usecases.reconcile.tags import Tag, Untag


@frozen
class Rendering:
    """One instruction as every surface shows it."""

    action: str  # "feed", "fall-back", ...: the log's and the JSON's "action"
    subject: str  # whose: the preset, the region (in-use tags: account/region in a
    # target account), or the account (unreachable)
    fields: Mapping[str, Any]  # JSON-able; "action" first, then "preset", "region" or "account"
    detail: str  # the text row's WHAT

    @property
    def count(self) -> str | None:
        """The name of the count it adds to when carried out (None: a problem)."""
        return COUNTS.get(self.action)


#: ``Report.counts()``'s names, per action that changes something, in this order.
COUNTS: Mapping[str, str] = {
    "feed": "builds",
    "fall-back": "fallbacks",
    "converge": "parameters",
    "trim": "trimmed",
    "tag": "tagged",
    "untag": "untagged",
    "promote": "promoted",
    "withdraw": "withdrawn",
}


def render(instruction: Instruction) -> Rendering:
    """``instruction``'s one rendering."""
    renderer = _RENDERERS.get(type(instruction))
    if renderer is None:
        raise TypeError(f"no rendering for the instruction {type(instruction).__name__}")
    return renderer(instruction)


def iso(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _preset(action: str, preset: str, detail: str, **fields: Any) -> Rendering:
    return Rendering(action, preset, {"action": action, "preset": preset, **fields}, detail)


def _place(action: str, place: Place, detail: str, **fields: Any) -> Rendering:
    """A region's rendering; in a target account, ``account`` follows ``region``."""
    where = {"region": place.region} | ({"account": place.account} if place.account else {})
    return Rendering(action, str(place), {"action": action, **where, **fields}, detail)


def _account(account: str | None) -> dict[str, str]:
    """The ``account`` field of a target account's instruction (none for ours)."""
    return {} if account is None else {"account": account}


def _feed(i: Feed) -> Rendering:
    build = i.build
    return _preset(
        "feed",
        i.preset,
        f"{short_build(build.arn)} {build.status}",
        pipelineArn=i.pipeline_arn,
        buildId=build.arn,
        status=build.status,
        created=iso(build.created),
        **build.amis.document(),
    )


def _promote(i: Promote) -> Rendering:
    candidate = i.candidate
    return _preset(
        "promote",
        i.preset,
        f"candidate {short_build(candidate.build_id)} {candidate.ami_id} goes live",
        buildId=candidate.build_id,
        amiId=candidate.ami_id,
        **candidate.amis.document(),
        completedAt=iso(candidate.completed_at),
    )


def _withdraw(i: Withdraw) -> Rendering:
    candidate = i.candidate
    return _preset(
        "withdraw",
        i.preset,
        f"candidate {short_build(candidate.build_id)}: {i.vanished} is {i.state} in {i.place}",
        buildId=candidate.build_id,
        vanished=i.vanished,
        imageState=i.state,
        **({"region": i.place.region} | _account(i.place.account)),
    )


def _fall_back(i: FallBack) -> Rendering:
    to = i.to
    return _preset(
        "fall-back",
        i.preset,
        f"{i.vanished} is {i.state} -> {short_build(to.build_id)} {to.ami_id}",
        vanished=i.vanished,
        imageState=i.state,
        buildId=to.build_id,
        amiId=to.ami_id,
        **to.amis.document(),
    )


def _converge(i: Converge) -> Rendering:
    where = ", ".join(str(Place(r, i.account)) for r in i.regions)
    return _preset(
        "converge",
        i.preset,
        f"{where}: {', '.join(i.keys)}" if where else ", ".join(i.keys),
        **_account(i.account),
        regions=list(i.regions),
        keys=list(i.keys),
    )


def _trim(i: Trim) -> Rendering:
    detail = f"{len(i.keys)} old build(s) of the history"
    return _preset("trim", i.preset, detail, builds=len(i.keys))


def _tag(i: Tag) -> Rendering:
    tags = " ".join(f"{key}={value}" for key, value in i.tags.items())
    detail = f"{', '.join(i.ami_ids)} {tags}"
    return _place("tag", i.place, detail, amiIds=list(i.ami_ids), tags=i.tags)


def _untag(i: Untag) -> Rendering:
    detail = f"{', '.join(i.ami_ids)} {', '.join(i.keys)}"
    return _place("untag", i.place, detail, amiIds=list(i.ami_ids), keys=list(i.keys))


def _problem(i: Problem) -> Rendering:
    return _preset("problem", i.preset, i.text, problem=i.text)


def _unreachable(i: Unreachable) -> Rendering:
    fields = {"action": "unreachable", "account": i.account, "problem": i.why}
    return Rendering("unreachable", i.account, fields, i.why)


def problem_fields(problem: Problem | Unreachable) -> dict[str, Any]:
    """A problem in a run's summary: whose (``preset`` or ``account``) and ``problem``."""
    return {k: v for k, v in render(problem).fields.items() if k != "action"}


_RENDERERS: Mapping[type[Any], Callable[[Any], Rendering]] = {
    Feed: _feed,
    Promote: _promote,
    Withdraw: _withdraw,
    FallBack: _fall_back,
    Converge: _converge,
    Trim: _trim,
    Tag: _tag,
    Untag: _untag,
    Problem: _problem,
    Unreachable: _unreachable,
}

__all__ = ["COUNTS", "Rendering", "iso", "problem_fields", "render"]
