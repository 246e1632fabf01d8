"""``status`` and ``sync``: compare each preset's SSM parameter with its state record, and repair.

Drift: the record holds an AMI for a region and that region's SSM parameter
does not say it (different ``amiId``, no parameter, or a value that is not a
JSON object). A record without an AMI yet (a first build still running or
failed) cannot drift: the Lambda never writes SSM without an AMI.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from attrs import frozen

from amistate.errors import AmistateError, InvalidConfig, is_permanent
from amistate.merge import ami_of, load_object
from amistate.service import AmiService
from amistate.state import AmiState

from . import render


@frozen
class RegionView:
    """One region's parameter compared with the record."""

    region: str
    expected: str | None  # the record's AMI for this region
    actual: str | None  # the parameter's amiId
    exists: bool
    problem: str | None = None  # e.g. the value is not a JSON object

    @property
    def drift(self) -> bool:
        if self.expected is None:
            return False
        return self.problem is not None or self.actual != self.expected


@frozen
class PresetView:
    record: AmiState
    parameter: str
    regions: tuple[RegionView, ...]

    @property
    def drift(self) -> bool:
        return any(region.drift for region in self.regions)

    @property
    def home(self) -> RegionView:
        return self.regions[0]

    def to_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "preset": record.preset,
            "status": record.status,
            "amiId": record.ami_id,
            "updatedAt": render.iso(record.updated_at),
            "buildId": record.build_id,
            "reason": record.reason,
            "parameter": self.parameter,
            "ssmAmiId": self.home.actual,
            "drift": self.drift,
            "regions": [
                {
                    "region": r.region,
                    "amiId": r.expected,
                    "ssmAmiId": r.actual,
                    "parameterExists": r.exists,
                    "problem": r.problem,
                    "drift": r.drift,
                }
                for r in self.regions
            ],
        }


def view(service: AmiService, record: AmiState) -> PresetView:
    regions = []
    for region in service.settings.regions:
        parameter = service.parameter(region, record.preset)
        problem = None
        if parameter is not None:
            try:
                load_object(parameter.value, "value")
            except InvalidConfig as exc:
                problem = str(exc)
        regions.append(
            RegionView(
                region=region,
                expected=service.expected_ami(record, region),
                actual=ami_of(parameter.value) if parameter else None,
                exists=parameter is not None,
                problem=problem,
            )
        )
    return PresetView(
        record=record, parameter=service.parameter_name(record.preset), regions=tuple(regions)
    )


def status_text(views: Iterable[PresetView], multi_region: bool = False) -> str:
    rows = []
    notes = []
    for v in views:
        r = v.record
        ssm = v.home.actual if v.home.exists else "(no parameter)"
        rows.append(
            [
                r.preset,
                r.status,
                render.dash(r.ami_id),
                render.when(r.updated_at),
                render.build(r.build_id),
                render.dash(ssm),
                "DRIFT" if v.drift else "",
            ]
        )
        if r.reason:
            notes.append(f"  {r.preset}: {r.status} because: {r.reason}")
        for region in v.regions:
            if region.problem:
                notes.append(f"  {r.preset} ({region.region}): {region.problem}")
            elif multi_region and region.drift:
                notes.append(
                    f"  {r.preset} ({region.region}): SSM says {region.actual or 'nothing'}, "
                    f"record says {region.expected}"
                )
    headers = ["PRESET", "STATUS", "AMI ID", "UPDATED AT", "BUILD", "SSM amiId", ""]
    text = render.table(headers, rows) if rows else "no presets"
    return text + ("\n" + "\n".join(notes) if notes else "")


@frozen
class Change:
    """What sync did (or would do) to one preset's parameter in one region."""

    preset: str
    region: str
    parameter: str
    action: str  # written | would-write | unchanged | skipped | failed
    before: str | None = None
    after: str | None = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "region": self.region,
            "parameter": self.parameter,
            "action": self.action,
            "ssmAmiIdBefore": self.before,
            "ssmAmiIdAfter": self.after,
            "detail": self.detail,
        }


def sync(service: AmiService, record: AmiState, dry_run: bool) -> list[Change]:
    """Make every region's parameter say the record's AMI (the Lambda's own convergence)."""
    name = service.parameter_name(record.preset)
    before = view(service, record)
    if record.ami_id is None:
        return [
            Change(record.preset, r.region, name, "skipped", r.actual, detail="no AMI yet")
            for r in before.regions
        ]
    changes = []
    for r in before.regions:
        if r.expected is None:
            changes.append(
                Change(record.preset, r.region, name, "skipped", r.actual, detail="no AMI here")
            )
        elif r.problem is not None:
            changes.append(Change(record.preset, r.region, name, "failed", detail=r.problem))
        elif r.drift:
            action = "would-write" if dry_run else "written"
            changes.append(Change(record.preset, r.region, name, action, r.actual, r.expected))
        else:
            changes.append(Change(record.preset, r.region, name, "unchanged", r.actual, r.actual))
    if dry_run or not any(c.action == "written" for c in changes):
        return changes
    try:
        # The same loop the Lambda ends with: write, then confirm against the record.
        service.converge(record.preset, record)
    except AmistateError as exc:
        if not is_permanent(exc):
            raise
        return [
            Change(c.preset, c.region, c.parameter, "failed", c.before, detail=str(exc))
            if c.action == "written"
            else c
            for c in changes
        ]
    after = view(service, service.record(record.preset) or record)
    settled = {r.region: r.actual for r in after.regions}
    return [
        Change(c.preset, c.region, c.parameter, c.action, c.before, settled.get(c.region))
        if c.action == "written"
        else c
        for c in changes
    ]


def sync_text(changes: Iterable[Change]) -> str:
    rows = []
    for c in changes:
        if c.action in ("written", "would-write"):
            what = f"{c.before or '(none)'} -> {c.after}"
        elif c.action == "unchanged":
            what = f"{c.after} (in sync)"
        else:
            what = c.detail or ""
        rows.append([c.preset, c.region, c.parameter, c.action, what])
    if not rows:
        return "no presets"
    return render.table(["PRESET", "REGION", "PARAMETER", "ACTION", "amiId"], rows)


__all__ = ["Change", "PresetView", "status_text", "sync", "sync_text", "view"]
