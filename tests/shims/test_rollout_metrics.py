"""The reconcile Lambda's rollout metrics: candidates waiting and their age, promotions,
rejected builds (docs/operations.md, "Alarms"; the CDK example alarms on CandidateAgeHours)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from amistate.core.amis import Amis
from amistate.core.state import AmiState, BuildRecord, Candidate, Rejection, Rollout
from amistate.shims import reconcile
from amistate.shims.metrics import Metrics
from amistate.usecases.reconcile.plan import Plan, Promote
from amistate.usecases.reconcile.run import Report

NOW = datetime(2024, 6, 4, 12, tzinfo=UTC)
BUILD = "arn:aws:imagebuilder:us-west-2:123456789012:image/spot-runner-x/1.0.0/{}"


def _record(preset: str, candidate_hours: float | None, rejected: int = 0) -> AmiState:
    live = BuildRecord(BUILD.format(1), "ready", "k1", NOW, Amis.of({"us-west-2": "ami-1"}))
    history = {"k1": live}
    for n in range(rejected):
        key = f"k0{n}"
        history[key] = BuildRecord(
            BUILD.format(10 + n),
            "ready",
            key,
            NOW,
            Amis.of({"us-west-2": f"ami-r{n}"}),
            rejection=Rejection(NOW, "canary failed"),
        )
    candidate = None
    if candidate_hours is not None:
        done = NOW - timedelta(hours=candidate_hours)
        candidate = Candidate(BUILD.format(2), "k2", done, Amis.of({"us-west-2": "ami-2"}))
    return AmiState(
        preset=preset,
        ami_key="k1",
        amis=live.amis,
        ami_build_id=live.build_id,
        history=history,
        rollout=Rollout("manual"),
        candidate=candidate,
    )


def test_waiting_candidates_their_age_promotions_and_rejections() -> None:
    records = {
        "waits": _record("waits", 30, rejected=2),
        "promoted": _record("promoted", 50),
        "none": _record("none", None, rejected=1),
    }
    promoted = records["promoted"].candidate
    assert promoted is not None
    step = Promote("promoted", promoted)
    report = Report(Plan((step,)), False, 3, done=(step,), records=records)
    metrics = Metrics(clock=lambda: NOW)
    reconcile._count(metrics, report)
    reconcile._rollouts(metrics, report, NOW)
    values = {
        (d.get("Preset"), name): d[name]
        for d in metrics.documents()
        for name in d
        if name in ("Promotions", "CandidatesWaiting", "RejectedBuilds", "CandidateAgeHours")
    }
    assert values == {
        (None, "Promotions"): 1,
        (None, "CandidatesWaiting"): 1,  # the promoted one no longer waits
        (None, "RejectedBuilds"): 3,
        ("waits", "CandidateAgeHours"): 30.0,
    }
