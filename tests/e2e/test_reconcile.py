"""End to end: lost events, vanished AMIs and the in-use tag, healed by the reconcile Lambda.

moto's server holds DynamoDB, SSM and EC2 (real AMI IDs from ``register_image``,
so an AMI can really be deregistered); Image Builder is the shared stand-in,
whose builds carry those AMIs and whose ``finish(..., deliver=False)`` completes
a build without sending its event (a lost event). Everything goes through the
real entry points: the custom resource (``custom_resource.handler``) deploys,
the event Lambda (``lambda_handler.handler``) gets the events that were sent,
and the reconcile Lambda (``reconcile.handler``) runs on its schedule. Writes
are counted on the wire (botocore ``before-call`` on the process's clients).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from amistate_adapters import clients

from amistate.core import settings
from amistate.core.in_use import PROTECTED
from amistate.errors import MalformedEvent
from amistate.shims import reconcile, runtime
from amistate.testing.events import scheduled_event
from amistate.testing.shapes import state_change_event
from amistate.testing.world import run_build
from tests.servers import Table
from tests.shims.conftest import CONFIG, PIPELINE, Aws
from tests.shims.fakes import ACCOUNT, REGION, Context, FlakyProxy

T0 = datetime(2024, 6, 3, 6, 0, tzinfo=UTC)
#: The reconcile Lambda's clock: a week after the first build.
NOW = T0 + timedelta(days=7)
SCHEDULED = scheduled_event(f"arn:aws:events:{REGION}:{ACCOUNT}:rule/amistate-reconcile", NOW)
WRITES = frozenset(
    {
        "PutParameter",
        "DeleteParameter",
        "UpdateItem",
        "PutItem",
        "DeleteItem",
        "TransactWriteItems",
        "BatchWriteItem",
        "CreateTags",
        "DeleteTags",
    }
)
OTHER = "linux-x64-large"


class World:
    """One test's builds, AMIs and invocations."""

    def __init__(
        self,
        aws: Aws,
        ec2: Any,
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        self.aws = aws
        self.ec2 = ec2
        self.capsys = capsys
        self.caplog = caplog
        self.amis: dict[str, str] = {}  # build ARN -> AMI
        self.finished: dict[str, datetime] = {}
        self.metrics: list[dict[str, Any]] = []

    # --- Image Builder and EC2 ------------------------------------------------------------

    def build(
        self, hour: float, status: str = "AVAILABLE", deliver: bool = True, pipeline: str = PIPELINE
    ) -> str:
        """A build started ``hour`` hours after T0, ended 40 minutes later."""
        created = T0 + timedelta(hours=hour)
        reason = "Component step 'InstallDocker' failed" if status == "FAILED" else None
        built = run_build(
            self.aws.images,
            pipeline,
            created,
            status,
            new_ami=self._new_ami,
            region=REGION,
            minutes=40,
            reason=reason,
            deliver=deliver,
        )
        self.finished[built.arn] = created + timedelta(minutes=40)
        return built.arn

    def _new_ami(self, arn: str) -> str:
        image = self.ec2.register_image(
            Name=f"spot-runner {arn.rpartition(':image/')[2].replace('/', ' ')}",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )
        self.amis[arn] = image["ImageId"]
        return self.amis[arn]

    def late_event(self, build: str) -> dict[str, Any]:
        """The event Image Builder had sent for ``build`` (delivered late)."""
        image = self.aws.images.get_image(build)
        assert image is not None
        return state_change_event(image, self.finished[build])

    def deregister(self, build: str) -> None:
        self.ec2.deregister_image(ImageId=self.amis[build])

    def in_use(self) -> dict[str, str]:
        """AMI -> the presets tag's value, for every AMI this deployment protects."""
        keys = settings.load().in_use_keys()
        found = {}
        for image in self.ec2.describe_images(Owners=["self"])["Images"]:
            tags = {t["Key"]: t["Value"] for t in image.get("Tags", [])}
            if tags.get(keys.protect) == PROTECTED:
                found[image["ImageId"]] = tags[keys.presets]
        return found

    # --- the Lambdas ------------------------------------------------------------------------

    def deliver(self) -> list[str]:
        """Every event sent so far, through the event Lambda; the decisions logged."""
        decisions = []
        for event in self.aws.images.take_events():
            decisions += self.invoke(event)
        return decisions

    def invoke(self, event: dict[str, Any]) -> list[str]:
        self.caplog.clear()
        self.aws.invoke(event)
        self._collect()
        return [line["decision"] for line in self.lines()]

    def reconcile(self) -> dict[str, Any]:
        self.caplog.clear()
        try:
            summary = reconcile.handler(SCHEDULED, Context(function_name="amistate-reconcile"))
        finally:
            self._collect()
        return summary

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(r.getMessage()) for r in self.caplog.records if r.name == "amistate"]

    def _collect(self) -> None:
        printed = self.capsys.readouterr().out.splitlines()
        self.metrics = [json.loads(line) for line in printed if line.startswith('{"_aws"')]

    def metric(self, name: str, **dimension: str) -> float | None:
        """The value of ``name`` in the last invocation's EMF documents (None: absent)."""
        for document in self.metrics:
            if name in document and all(document.get(k) == v for k, v in dimension.items()):
                value: float = document[name]
                return value
        return None

    # --- what the runners read ---------------------------------------------------------------

    def record(self, preset: str = "linux-x64") -> dict[str, Any]:
        item = self.aws.item(preset)
        assert item is not None
        return item

    def ami_in_ssm(self, preset: str = "linux-x64") -> str | None:
        value = self.aws.parameter_json(preset)
        return None if value is None else str(value["amiId"])

    def version(self, preset: str = "linux-x64") -> int:
        return int((self.aws.parameter(preset) or {})["Version"])

    @contextmanager
    def operations(self) -> Iterator[list[str]]:
        """Every call made inside the block on the DynamoDB and SSM clients, by operation."""
        seen: list[str] = []

        def count(model: Any, **_: Any) -> None:
            seen.append(model.name)

        hooked = [clients.client(s, REGION) for s in ("dynamodb", "ssm")]
        for client in hooked:
            client.meta.events.register("before-call", count, unique_id="e2e-operations")
        try:
            yield seen
        finally:
            for client in hooked:
                client.meta.events.unregister("before-call", unique_id="e2e-operations")

    @contextmanager
    def writes(self) -> Iterator[list[str]]:
        """The writes that took effect inside the block, on every client of the process.

        A conditional write DynamoDB rejected (ConditionalCheckFailed: the
        optimistic first attempt of a late event) changed nothing: not counted.
        """
        seen: list[str] = []

        def count(model: Any, parsed: Any, **_: Any) -> None:
            if model.name in WRITES and "Error" not in parsed:
                seen.append(model.name)

        services = ("dynamodb", "ssm", "ec2")
        hooked = [clients.client(s, REGION) for s in services]  # type: ignore[call-overload]
        for client in hooked:
            client.meta.events.register("after-call", count, unique_id="e2e-writes")
        try:
            yield seen
        finally:
            for client in hooked:
                client.meta.events.unregister("after-call", unique_id="e2e-writes")


@pytest.fixture
def world(
    aws: Aws,
    moto_table: Table,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    caplog.set_level(logging.INFO, logger="amistate")
    monkeypatch.setattr(reconcile, "now", lambda: NOW)
    aws.deploy(start_build="false")
    return World(aws, moto_table.endpoint.client("ec2"), capsys, caplog)


def _actions(world: World) -> list[tuple[str, Any]]:
    return [(line["action"], line.get("preset")) for line in world.lines() if "action" in line]


# --- builds lost in delivery ----------------------------------------------------------------


def test_a_dropped_success_is_applied_and_its_late_event_changes_nothing(world: World) -> None:
    first = world.build(0)
    assert world.deliver() == ["applied"]
    lost = world.build(2, deliver=False)
    assert world.deliver() == []
    assert world.ami_in_ssm() == world.amis[first]

    summary = world.reconcile()

    assert summary["counts"]["builds"] == 1
    assert summary["converged"] is True
    record = world.record()
    assert record["amiId"] == {"S": world.amis[lost]}
    assert record["buildId"] == {"S": lost}
    assert record["status"] == {"S": "ready"}
    assert world.ami_in_ssm() == world.amis[lost]
    assert world.aws.parameter_json() == {**CONFIG, "amiId": world.amis[lost]}
    assert ("feed", "linux-x64") in _actions(world)
    assert world.metric("ReconcileRepairs") == 1
    assert world.metric("ParameterWrites") == 1

    version = world.version()
    with world.writes() as second:
        again = world.reconcile()
    assert second == []
    assert again["counts"] == dict.fromkeys(again["counts"], 0)
    assert world.metric("ReconcileRepairs") == 0

    with world.writes() as late:
        assert world.invoke(world.late_event(lost)) == ["duplicate"]
    assert late == []
    assert world.record() == record
    assert world.version() == version


def test_a_repair_rereads_neither_the_record_nor_the_parameter_the_run_read(
    world: World,
) -> None:
    """Issue 24: the run scanned the record and read the parameter (GetParameters); the
    repair writes from those reads, and its confirm (one BatchGetItem for the run's
    writes) also serves the AmiAgeDays metric: no GetItem, no GetParameter."""
    world.build(0)
    world.deliver()
    lost = world.build(2, deliver=False)

    with world.operations() as operations:
        summary = world.reconcile()

    assert summary["counts"]["builds"] == 1 and summary["counts"]["parameters"] == 1
    assert world.ami_in_ssm() == world.amis[lost]
    # Before: a GetItem for the pipeline mapping, a GetParameter to merge into, a GetItem
    # to confirm the write and a GetItem for the metric.
    assert operations == ["Scan", "GetParameters", "UpdateItem", "PutParameter", "BatchGetItem"]


def test_a_dropped_failure_marks_the_record_failed_and_leaves_ssm_alone(world: World) -> None:
    good = world.build(0)
    world.deliver()
    version = world.version()
    failed = world.build(2, "FAILED", deliver=False)

    with world.writes() as first_run:
        summary = world.reconcile()

    assert summary["counts"]["builds"] == 1
    record = world.record()
    assert record["status"] == {"S": "failed"}
    assert record["buildId"] == {"S": failed}
    assert record["reason"] == {"S": "Component step 'InstallDocker' failed"}
    assert record["amiId"] == {"S": world.amis[good]}
    assert "PutParameter" not in first_run
    assert world.version() == version
    assert world.ami_in_ssm() == world.amis[good]

    with world.writes() as second:
        world.reconcile()
    assert second == []
    with world.writes() as late:
        assert world.invoke(world.late_event(failed)) == ["duplicate"]
    assert late == []
    assert world.record() == record


def test_overlapping_builds_the_one_started_later_wins_whichever_event_is_lost(
    world: World,
) -> None:
    # Build 2 starts before build 1 ends and finishes first; build 2's event is lost,
    # build 1's arrives.
    early = world.build(0)
    later = world.build(0.25, deliver=False)
    assert world.deliver() == ["applied"]
    world.reconcile()
    assert world.record()["amiId"] == {"S": world.amis[later]}
    assert world.ami_in_ssm() == world.amis[later]
    # Build 1's event again, late: older than the record, so stale.
    before = world.record()
    with world.writes() as late:
        assert world.invoke(world.late_event(early)) == ["stale"]
    assert late == []
    assert world.record() == before


def test_an_older_build_whose_event_was_lost_joins_the_history_at_the_next_run(
    world: World,
) -> None:
    # Build 1's event is lost and build 2 (started later) is applied. Build 1 can change
    # no register, but it belongs in the history: the run adds it, and its late event
    # then writes nothing (the event path spends no call on a stale build's history).
    early = world.build(0, deliver=False)
    later = world.build(0.25)
    assert world.deliver() == ["applied"]
    before = world.record()
    assert world.reconcile()["counts"]["builds"] == 1
    after = world.record()
    assert len(after.pop("history")["M"]) == len(before.pop("history")["M"]) + 1
    assert after == before
    assert world.reconcile()["counts"]["builds"] == 0
    with world.writes() as late:
        assert world.invoke(world.late_event(early)) == ["stale"]
    assert late == []
    assert world.ami_in_ssm() == world.amis[later]


# --- AMIs that vanished ---------------------------------------------------------------------


def test_a_deregistered_ami_falls_back_to_the_previous_good_one(world: World) -> None:
    first = world.build(0)
    second = world.build(3)
    world.deliver()
    assert world.ami_in_ssm() == world.amis[second]
    world.deregister(second)

    summary = world.reconcile()

    assert summary["counts"]["fallbacks"] == 1
    assert world.ami_in_ssm() == world.amis[first]
    assert world.record()["amiId"] == {"S": world.amis[first]}
    (line,) = [x for x in world.lines() if x.get("action") == "fall-back"]
    assert line["vanished"] == world.amis[second]
    assert line["amiId"] == world.amis[first]
    assert line["done"] is True
    assert world.metric("ReconcileFallbacks") == 1
    with world.writes() as again:
        world.reconcile()
    assert again == []
    assert world.metric("ReconcileFallbacks") == 0


def test_a_waiting_candidate_whose_ami_was_deregistered_is_withdrawn(world: World) -> None:
    """Over moto's EC2 and DynamoDB: DescribeImages no longer finds the candidate's AMI;
    the run rejects the build and the parameter stops offering it to canary runners."""
    manual = world.aws.resource_event("Create", start_build="false")
    manual["ResourceProperties"]["RolloutPolicy"] = "manual"
    assert world.aws.send(manual).body["Status"] == "SUCCESS"
    first = world.build(0)
    second = world.build(3)
    world.deliver()
    assert world.aws.parameter_json()["candidateAmiId"] == world.amis[second]
    world.deregister(second)

    summary = world.reconcile()

    assert summary["counts"]["withdrawn"] == 1
    (line,) = [x for x in world.lines() if x.get("action") == "withdraw"]
    assert (line["vanished"], line["imageState"], line["done"]) == (
        world.amis[second],
        "missing",
        True,
    )
    assert world.ami_in_ssm() == world.amis[first]
    assert "candidateAmiId" not in world.aws.parameter_json()
    entry = world.record()["history"]["M"]
    rejected = [e["M"] for e in entry.values() if "rejection" in e["M"]]
    assert [e["amiId"]["S"] for e in rejected] == [world.amis[second]]
    with world.writes() as again:
        world.reconcile()
    assert again == []


def test_a_pinned_ami_that_vanished_is_a_problem_and_stays_pinned(world: World) -> None:
    first = world.build(0)
    world.build(3)
    world.deliver()
    rt = runtime.get(Context())
    rt.pins.pin("linux-x64", world.amis[first], reason="incident 42")
    assert world.ami_in_ssm() == world.amis[first]
    world.deregister(first)

    summary = world.reconcile()

    assert [p["preset"] for p in summary["problems"]] == ["linux-x64"]
    assert world.amis[first] in summary["problems"][0]["problem"]
    assert summary["converged"] is False
    assert summary["failed"] == {}
    assert world.ami_in_ssm() == world.amis[first]
    assert world.record()["pin"]["M"]["amiId"] == {"S": world.amis[first]}
    assert ("problem", "linux-x64") in _actions(world)
    assert world.metric("ReconcileProblems") == 1
    assert world.metric("ReconcileFallbacks") == 0


# --- the in-use tag ---------------------------------------------------------------------


def test_the_ami_in_use_and_two_previous_good_ones_carry_the_tag(world: World) -> None:
    builds = [world.build(hour) for hour in (0, 3, 6)]
    world.build(8, "FAILED")
    world.deliver()
    world.reconcile()
    assert world.in_use() == {world.amis[b]: "linux-x64" for b in builds}

    newest = world.build(10)
    world.deliver()
    world.reconcile()

    expected = {world.amis[b]: "linux-x64" for b in [*builds[1:], newest]}
    assert world.in_use() == expected
    assert world.ami_in_ssm() == world.amis[newest]
    untag = [x for x in world.lines() if x.get("action") == "untag"]
    assert [x["amiIds"] for x in untag] == [[world.amis[builds[0]]]]


# --- two presets, one pipeline ---------------------------------------------------------------


def test_two_presets_on_one_pipeline_both_follow_a_lost_build(world: World) -> None:
    world.aws.deploy(
        preset=OTHER, config={**CONFIG, "instanceTypes": ["c7g.xlarge"]}, start_build="false"
    )
    first = world.build(0)
    world.deliver()
    assert world.ami_in_ssm(OTHER) == world.amis[first]
    lost = world.build(2, deliver=False)

    summary = world.reconcile()

    assert summary["counts"]["builds"] == 1
    assert world.metric("ReconcileRepairs") == 1
    for preset in ("linux-x64", OTHER):
        assert world.record(preset)["amiId"] == {"S": world.amis[lost]}
        assert world.ami_in_ssm(preset) == world.amis[lost]
    assert world.aws.parameter_json(OTHER)["instanceTypes"] == ["c7g.xlarge"]
    assert world.in_use()[world.amis[lost]] == f"linux-x64,{OTHER}"
    feeds = [x for x in world.lines() if x.get("action") == "feed"]
    assert sorted(x["preset"] for x in feeds) == ["linux-x64", OTHER]
    assert all(x["done"] for x in feeds)
    with world.writes() as again:
        world.reconcile()
    assert again == []


# --- the Lambda's contract --------------------------------------------------------------------


def test_a_non_object_event_is_refused_with_the_reason(world: World) -> None:
    with pytest.raises(MalformedEvent, match="JSON object, got list"):
        reconcile.handler([SCHEDULED], Context(function_name="amistate-reconcile"))


def test_a_preset_that_cannot_be_reconciled_is_raised_after_the_others_carry_on(
    world: World, ssm_proxy: FlakyProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_pipeline = PIPELINE.replace("linux-x64", "linux-arm64")
    world.aws.images.pipelines.add(other_pipeline)
    world.aws.deploy(preset=OTHER, pipeline=other_pipeline, start_build="false")
    world.build(0)
    world.build(0.5, pipeline=other_pipeline)
    world.deliver()
    lost = world.build(2, deliver=False)
    lost_other = world.build(2.5, deliver=False, pipeline=other_pipeline)
    # SSM through a proxy that denies PutParameter on linux-x64's parameter (IAM would).
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", ssm_proxy.url)
    runtime.reset()
    clients.clear()
    ssm_proxy.denied.add(("PutParameter", "/spot-runner/configs/linux-x64"))

    with pytest.raises(reconcile.ReconcileFailed, match="linux-x64"):
        world.reconcile()

    (summary,) = [x for x in world.lines() if x.get("action") == "summary"]
    assert list(summary["failed"]) == ["linux-x64"]
    assert "AccessDenied" in summary["failed"]["linux-x64"]
    assert summary["converged"] is False
    assert world.metric("Errors") == 1
    assert world.ami_in_ssm(OTHER) == world.amis[lost_other]
    assert world.record()["amiId"] == {"S": world.amis[lost]}  # applied; SSM is behind
    assert world.ami_in_ssm() != world.amis[lost]

    ssm_proxy.denied.clear()
    healed = world.reconcile()
    assert healed["failed"] == {}
    assert healed["counts"]["parameters"] == 1
    assert world.ami_in_ssm() == world.amis[lost]
    assert world.metric("Errors") == 0


# --- metrics: the EMF documents of a success, a failure and a reconcile run (issue 15) -------


def _check_emf(document: dict[str, Any]) -> None:
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "amistate"
    for dimensions in directive["Dimensions"]:
        assert all(name in document for name in dimensions)
    assert all(m["Name"] in document for m in directive["Metrics"])
    assert isinstance(document["_aws"]["Timestamp"], int)


def test_emf_documents_of_a_success_a_failure_and_a_reconcile_run(world: World) -> None:
    good = world.build(0)
    world.deliver()
    success = world.metrics
    world.build(2, "FAILED")
    world.deliver()
    failure = world.metrics
    world.build(4, deliver=False)
    world.reconcile()
    run = world.metrics

    for document in [*success, *failure, *run]:
        _check_emf(document)

    def names(documents: list[dict[str, Any]]) -> set[str]:
        return {m["Name"] for d in documents for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]}

    assert {"Decisions", "ParameterWrites", "ConvergeRounds"} <= names(success)
    assert any(d.get("Decision") == "applied" and d["Decisions"] == 1 for d in success)
    assert {"Decisions", "BuildsFailed", "BuildFailed"} <= names(failure)
    assert any(d.get("Preset") == "linux-x64" and d["BuildFailed"] == 1 for d in failure)
    reconcile_metrics = {
        "ReconcileRepairs",
        "ReconcileFallbacks",
        "ReconcileProblems",
        "ParameterWrites",
        "Errors",
        "AmiAgeDays",
    }
    assert reconcile_metrics <= names(run)
    # The AMI in SSM now is the lost build's, which ended 4 h 40 min after T0.
    age = (NOW - (T0 + timedelta(hours=4, minutes=40))).total_seconds() / 86400
    assert world.metric("AmiAgeDays", Preset="linux-x64") == pytest.approx(age, abs=0.001)
    assert world.metric("ReconcileRepairs") == 1
    assert good in world.amis
