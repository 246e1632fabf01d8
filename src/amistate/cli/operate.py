"""``status``: compare each preset's SSM parameter with what it should hold.

What a region's parameter should hold is the service's desired value
(:meth:`amistate.usecases.converge.Converger.desired_value`: the current value with the
preset's Config applied, retired keys removed and the AMI of the pin or the
record). **Drift** is any difference: ``amiId`` (AMI drift), a config key
(config drift), or no parameter at all (``missing``). A record without an AMI
yet cannot drift: nothing writes SSM without an AMI. A parameter the service
cannot use (a ``StringList``, a value that is not a JSON object) is a
*problem* on its row; the other presets are still shown.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from attrs import frozen

from amistate.core.amis import Place
from amistate.core.desired import drift
from amistate.core.merge import AMI_ID_KEY, ami_of
from amistate.core.rollout import format_duration
from amistate.core.state import AmiState, Candidate, Pin
from amistate.errors import AmistateError, is_permanent
from amistate.usecases import ami_parameter
from amistate.usecases.converge import Converger
from amistate.wiring.compose import Runtime

from . import render

#: Drift keys that are about the AMI, not the config.
AMI_KEYS = frozenset({AMI_ID_KEY, "missing"})


@frozen
class RegionView:
    """One region's parameter (of our account, or of a target ``account``) compared
    with its desired value."""

    region: str
    expected: str | None  # the AMI the parameter should hold (the pin's, else the record's)
    actual: str | None  # the parameter's amiId
    exists: bool
    problem: str | None = None  # the parameter cannot be used (not a JSON object, StringList)
    keys: tuple[str, ...] = ()  # what differs: "amiId", config keys, or "missing"
    account: str | None = None  # a target account's parameter (None: ours)
    #: The preset's plain AMI parameter when it differs from ``expected``: its name,
    #: ``"<name> (missing)"`` when absent (None: in sync, or the preset names none).
    ami_parameter: str | None = None

    @property
    def where(self) -> str:
        return str(Place(self.region, self.account))

    @property
    def drift(self) -> bool:
        return self.problem is None and (bool(self.keys) or self.ami_parameter is not None)

    @property
    def ami_drift(self) -> bool:
        return self.drift and any(key in AMI_KEYS for key in self.keys)

    @property
    def config_keys(self) -> tuple[str, ...]:
        return tuple(key for key in self.keys if key not in AMI_KEYS)

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            **({"account": self.account} if self.account else {}),  # a target account's
            "amiId": self.expected,
            "ssmAmiId": self.actual,
            "parameterExists": self.exists,
            "problem": self.problem,
            "drift": self.drift,
            "amiDrift": self.ami_drift,
            "configDrift": list(self.config_keys),
            "amiParameterDrift": self.ami_parameter,
        }


@frozen
class PresetView:
    record: AmiState
    parameter: str
    regions: tuple[RegionView, ...]

    @property
    def drift(self) -> bool:
        return any(region.drift for region in self.regions)

    @property
    def problem(self) -> str | None:
        found = [f"{r.where}: {r.problem}" for r in self.regions if r.problem]
        return "; ".join(found) or None

    @property
    def home(self) -> RegionView:
        return self.regions[0]

    @property
    def pin_holds(self) -> bool | None:
        """Whether every region's parameter holds the pinned AMI (None: not pinned)."""
        if self.record.pin is None:
            return None
        return all(r.actual == r.expected for r in self.regions if r.expected is not None)

    def to_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "preset": record.preset,
            "status": record.status,
            "amiId": record.ami_id,
            "amiBuildId": record.ami_build_id,
            "amiUpdatedAt": render.iso(record.ami_updated_at),
            "updatedAt": render.iso(record.updated_at),
            "buildId": record.build_id,
            "reason": record.reason,
            "pin": pin_json(record.pin, self.pin_holds),
            "rollout": rollout_json(record),
            "candidate": candidate_json(record.waiting),
            "parameter": self.parameter,
            "ssmAmiId": self.home.actual,
            "drift": self.drift,
            "problem": self.problem,
            "regions": [r.to_json() for r in self.regions],
            "accountsBehind": dict(record.behind),
        }


def pin_json(pin: Pin | None, holds: bool | None = None) -> dict[str, Any] | None:
    if pin is None:
        return None
    value: dict[str, Any] = {
        "buildId": pin.build_id,
        "amiId": pin.ami_id,
        **pin.amis.document(),
        "pinnedAt": render.iso(pin.pinned_at),
        "reason": pin.reason,
    }
    if holds is not None:
        value["holds"] = holds
    return value


def rollout_json(record: AmiState) -> dict[str, Any]:
    soak = record.rollout.soak
    return {"policy": record.rollout.policy, "soakTime": format_duration(soak) if soak else None}


def candidate_json(candidate: Candidate | None) -> dict[str, Any] | None:
    if candidate is None:
        return None
    return {
        "buildId": candidate.build_id,
        "amiId": candidate.ami_id,
        **candidate.amis.document(),
        "completedAt": render.iso(candidate.completed_at),
    }


def view(converger: Converger, record: AmiState) -> PresetView:
    """Every parameter of ``record``: our regions first, then each target account's."""
    regions = converger.settings.regions
    places = [Place(r, a) for a in (None, *record.target_accounts) for r in regions]
    return PresetView(
        record=record,
        parameter=converger.parameter_name(record.preset),
        regions=tuple(_region(converger, record, place) for place in places),
    )


def _region(converger: Converger, record: AmiState, place: Place) -> RegionView:
    region, account = place.region, place.account
    expected = record.ami_for(region, account=account)
    try:
        parameter = converger.parameter(region, record.preset, account)
    except AmistateError as exc:  # not JSON-readable (a StringList), or a denied account
        return RegionView(region, expected, None, True, _permanent(exc), account=account)
    current = parameter.value if parameter is not None else None
    exists = parameter is not None
    try:
        desired = converger.desired_value(record, place, current)
    except AmistateError as exc:  # a value that is not a JSON object
        return RegionView(region, expected, None, exists, _permanent(exc), account=account)
    keys = drift(current, desired) if desired is not None else ()
    try:
        plain = _plain_drift(converger, record, place, expected)
    except AmistateError as exc:  # a parameter of that name amistate must not write over
        return RegionView(region, expected, None, exists, _permanent(exc), account=account)
    actual = ami_of(current)
    return RegionView(
        region, expected, actual, exists, keys=keys, account=account, ami_parameter=plain
    )


def _plain_drift(
    converger: Converger, record: AmiState, place: Place, expected: str | None
) -> str | None:
    """How the preset's plain AMI parameter differs from ``expected`` (None: it does not)."""
    name = record.ami_parameter
    if name is None or expected is None:
        return None
    return ami_parameter.drift(name, converger.store(place).get(name), expected)


def _permanent(exc: AmistateError) -> str:
    """The problem a permanent refusal names; a transient error propagates."""
    if not is_permanent(exc):
        raise exc
    return str(exc)


def status_text(views: Iterable[PresetView], multi_region: bool = False) -> str:
    rows = []
    notes: list[str] = []
    for v in views:
        r = v.record
        rows.append(
            [
                r.preset,
                r.status,
                render.version(r.build_id),
                render.when(r.updated_at),
                render.dash(r.ami_id),
                render.version(r.ami_build_id),
                render.dash(v.home.actual if v.home.exists else "(no parameter)"),
                _pin_cell(v),
                _flag(v),
            ]
        )
        notes.extend(_notes(v, multi_region))
    headers = [
        "PRESET", "STATUS", "BUILD", "UPDATED AT", "AMI ID", "AMI BUILD", "SSM amiId", "PIN", ""
    ]  # fmt: skip
    text = render.table(headers, rows) if rows else "no presets"
    return text + ("\n" + "\n".join(notes) if notes else "")


def _pin_cell(v: PresetView) -> str:
    pin = v.record.pin
    if pin is None:
        return "-"
    return f"{render.version(pin.build_id)} ({'holds' if v.pin_holds else 'NOT HELD'})"


def _flag(v: PresetView) -> str:
    if v.problem:
        return "PROBLEM"
    if not v.drift:
        return ""
    keys = {key for region in v.regions for key in region.keys}
    keys |= {r.ami_parameter.split(" ")[0] for r in v.regions if r.ami_parameter}
    return "DRIFT " + ",".join(sorted(keys))


def _notes(v: PresetView, multi_region: bool) -> Iterable[str]:
    r = v.record
    if r.reason:
        yield f"  {r.preset}: {r.status} because: {r.reason}"
    if r.pin is not None:
        why = f" ({r.pin.reason})" if r.pin.reason else ""
        yield f"  {r.preset}: pinned to {render.build(r.pin.build_id)} {r.pin.ami_id}{why}"
    waiting = r.waiting
    if waiting is not None:
        policy = rollout_json(r)
        soak = f" {policy['soakTime']}" if policy["soakTime"] else ""
        yield (
            f"  {r.preset}: candidate {render.build(waiting.build_id)} {waiting.ami_id} "
            f"completed {render.when(waiting.completed_at)} ({policy['policy']}{soak}; "
            f"`amistate promote {r.preset}` or `amistate reject {r.preset}`)"
        )
    for account, why in sorted(r.behind.items()):
        yield f"  {r.preset} (account {account}): behind since the last converge: {why}"
    for region in v.regions:
        if region.problem:
            yield f"  {r.preset} ({region.where}): PROBLEM: {region.problem}"
        elif region.config_keys:
            yield (
                f"  {r.preset} ({region.where}): config drift in {', '.join(region.config_keys)}"
            )
        if (multi_region or region.account) and region.ami_drift:
            yield (
                f"  {r.preset} ({region.where}): SSM says {region.actual or 'nothing'}, "
                f"should be {region.expected}"
            )
        if region.ami_parameter and not region.problem:
            yield (
                f"  {r.preset} ({region.where}): AMI parameter {region.ami_parameter} "
                f"should hold {region.expected}"
            )


def run_status(args: argparse.Namespace, rt: Runtime, table: str) -> int:
    """``amistate status``: exit 1 with drift or a problem."""
    views = [view(rt.converger, record) for record in rt.service.records(args.presets)]
    drifted = any(v.drift for v in views)
    problems = sum(1 for v in views if v.problem)
    if args.json:
        render.emit_json(
            {
                "table": table,
                "presets": [v.to_json() for v in views],
                "drift": drifted,
                "problems": problems,
            }
        )
    else:
        print(status_text(views, multi_region=bool(rt.settings.extra_regions)))
        if drifted:
            print("\nDRIFT: SSM differs from what it should hold; `amistate sync` repairs it.")
        if problems:
            print(f"\n{problems} preset(s) with a PROBLEM amistate cannot repair: fix by hand.")
    return 1 if drifted or problems else 0


__all__ = [
    "PresetView",
    "RegionView",
    "candidate_json",
    "pin_json",
    "rollout_json",
    "run_status",
    "status_text",
    "view",
]
