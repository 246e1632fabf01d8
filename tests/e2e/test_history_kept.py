"""The history keeps what amistate promises to keep, and a fallback carries its build's key.

Issue 20, point 2: trimming kept the newest N entries whatever their status, so
after N failures no good build was left: the previous good AMI lost its in-use
tag, ``amistate rollback`` and ``amistate pin <the live AMI>`` were refused and
a vanished AMI had nothing to fall back to. Point 6: after a fallback the
record kept the vanished build's ordering key, so a success that started
between the two was called stale.

Through the public entry points on moto's server (DynamoDB, SSM, EC2 in two
regions) and the Image Builder stand-in: the event Lambda
(``lambda_handler.handler``), the reconcile Lambda (``reconcile.handler``) and
the CLI (``amistate.cli.main.main``).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from amistate_adapters import clients

from amistate.cli.main import main
from amistate.shims import reconcile, runtime
from tests.e2e.test_reconcile import NOW, T0, World
from tests.servers import Endpoint, Table
from tests.shims.conftest import PIPELINE, Aws
from tests.shims.fakes import REGION

EXTRA = "eu-west-1"
TAG_PREFIX = "amistate:in-use"


class Operator(World):
    """The e2e world, with builds in every region, the reconcile Lambda and the CLI."""

    def __init__(
        self, *args: Any, endpoint: Endpoint, regions: tuple[str, ...] = (REGION,)
    ) -> None:
        super().__init__(*args)
        self.aws_endpoint = endpoint
        self.regions = regions
        self.region_amis: dict[str, dict[str, str]] = {}  # build ARN -> region -> AMI

    def start(self, hour: float) -> str:
        """A build started ``hour`` hours after T0, still running."""
        arn: str = self.aws.images.new_build(PIPELINE, T0 + timedelta(hours=hour))
        return arn

    def end(self, arn: str, hour: float, status: str = "AVAILABLE") -> str:
        """Build ``arn`` (started at ``hour``) ends 40 minutes later, its event sent."""
        amis: dict[str, str] = {}
        if status == "AVAILABLE":
            for region in self.regions:
                image = self.ec2_in(region).register_image(
                    Name=f"spot-runner {arn.rpartition('/')[2]} {region}",
                    RootDeviceName="/dev/xvda",
                    BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
                )
                amis[region] = image["ImageId"]
            self.amis[arn] = amis[REGION]
            self.region_amis[arn] = amis
        self.finished[arn] = T0 + timedelta(hours=hour, minutes=40)
        reason = "Component step 'InstallDocker' failed" if status == "FAILED" else None
        self.aws.images.finish(arn, status, amis, reason=reason, finished=self.finished[arn])
        return arn

    def make(self, hour: float, status: str = "AVAILABLE") -> str:
        return self.end(self.start(hour), hour, status)

    def ec2_in(self, region: str) -> Any:
        return self.ec2 if region == REGION else self.aws_endpoint.client("ec2", region)

    def deregister_in(self, region: str, build: str) -> None:
        self.ec2_in(region).deregister_image(ImageId=self.region_amis[build][region])

    def ssm_ami(self, region: str = REGION) -> str | None:
        ssm = self.aws.ssm if region == REGION else self.aws_endpoint.client("ssm", region)
        value = ssm.get_parameter(Name="/spot-runner/configs/linux-x64")["Parameter"]["Value"]
        ami: str | None = json.loads(value)["amiId"]
        return ami

    def protected(self) -> set[str]:
        """The home region's AMIs carrying an in-use tag (whatever its exact key)."""
        images = self.ec2.describe_images(Owners=["self"])["Images"]
        return {
            i["ImageId"]
            for i in images
            if any(t["Key"].startswith(TAG_PREFIX) for t in i.get("Tags", []))
        }

    def run_reconcile(self) -> dict[str, Any]:
        """The reconcile Lambda as deployed: its runtime built from the environment."""
        runtime.reset()
        return self.reconcile()

    def cli(self, *args: str, code: int = 0) -> Any:
        """``amistate ARGS --json`` in-process; the parsed document."""
        self.capsys.readouterr()
        done = main([*args, "--json"])
        out, err = self.capsys.readouterr()
        assert done == code, (done, out, err)
        return json.loads(out) if out else err


@pytest.fixture
def op(
    aws: Aws,
    moto_table: Table,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> Operator:
    caplog.set_level(logging.INFO, logger="amistate")
    monkeypatch.setattr(reconcile, "now", lambda: NOW)
    aws.deploy(start_build="false")
    endpoint = moto_table.endpoint
    return Operator(aws, endpoint.client("ec2"), capsys, caplog, endpoint=endpoint)


@pytest.fixture
def two_regions(op: Operator, monkeypatch: pytest.MonkeyPatch) -> Operator:
    """The same world, with the functions writing ``eu-west-1``'s parameter too."""
    monkeypatch.setenv("AMISTATE_EXTRA_REGIONS", EXTRA)
    runtime.reset()
    clients.clear()
    op.regions = (REGION, EXTRA)
    return op


def _history(op: Operator) -> list[dict[str, Any]]:
    builds: list[dict[str, Any]] = op.cli("history", "linux-x64")["builds"]
    return builds


def _zero(summary: dict[str, Any]) -> bool:
    return bool(summary["counts"] == dict.fromkeys(summary["counts"], 0) and summary["converged"])


# --- point 2: a run of failures never pushes the good builds out ------------------------------


def _two_good_then_failures(op: Operator, failures: int = 21) -> tuple[str, str]:
    first = op.make(0)
    second = op.make(1)
    for n in range(failures):
        op.make(2 + n, "FAILED")
    op.deliver()
    return first, second


def test_after_21_failures_the_good_builds_stay_keep_their_tag_and_a_fallback(
    op: Operator,
) -> None:
    """Before: the run kept the 20 newest entries (all failures); the next run untagged
    the previous good AMI although docs/operations.md promises it keeps its tag, and a
    vanished live AMI was a problem: "no good build remains"."""
    first, second = _two_good_then_failures(op)
    assert len(_history(op)) == 23

    trimmed = op.run_reconcile()
    assert trimmed["counts"]["trimmed"] == 1
    history = _history(op)
    assert len(history) == 20  # the limit: failures went first
    assert [b["buildId"] for b in history if b["status"] == "ready"] == [second, first]
    assert op.protected() == {op.amis[first], op.amis[second]}

    again = op.run_reconcile()
    assert _zero(again), again  # a history at its limit is not planned again
    assert op.protected() == {op.amis[first], op.amis[second]}
    assert len(_history(op)) == 20

    op.deregister(second)
    fell = op.run_reconcile()
    assert fell["counts"]["fallbacks"] == 1, fell
    assert fell["problems"] == []
    assert op.ssm_ami() == op.amis[first]
    assert _zero(op.run_reconcile())


def test_after_21_failures_pin_and_rollback_still_work(op: Operator) -> None:
    """Before: with no good build left in the history, both were refused."""
    first, second = _two_good_then_failures(op)
    op.run_reconcile()

    pinned = op.cli("pin", "linux-x64", op.amis[second])
    assert (pinned["action"], pinned["pin"]["buildId"]) == ("pinned", second)
    assert op.cli("unpin", "linux-x64")["action"] == "unpinned"
    rolled = op.cli("rollback", "linux-x64")
    assert (rolled["action"], rolled["pin"]["buildId"]) == ("pinned", first)
    assert op.ssm_ami() == op.amis[first]
    # The pinned build and the live one are both kept by the next runs.
    op.make(30, "FAILED")
    op.deliver()
    op.run_reconcile()
    kept = [b["buildId"] for b in _history(op) if b["status"] == "ready"]
    assert kept == [second, first]


# --- point 6: the fallback's ordering key ------------------------------------------------------


def test_a_late_success_between_the_fallback_and_the_vanished_build_is_applied(
    op: Operator,
) -> None:
    """Before: the record kept the vanished build's ordering key after the fallback, so
    build 2 (started between builds 1 and 3, finished after the fallback) was stale."""
    first = op.make(0)
    middle = op.start(1)
    vanished = op.make(2)
    op.make(3, "FAILED")
    op.deliver()
    assert op.ssm_ami() == op.amis[vanished]
    op.deregister(vanished)
    assert op.run_reconcile()["counts"]["fallbacks"] == 1
    assert op.ssm_ami() == op.amis[first]

    op.end(middle, 1)
    assert op.deliver() == ["applied-ami"]

    assert op.ssm_ami() == op.amis[middle]
    assert op.record()["amiBuildId"] == {"S": middle}
    # The vanished build's event replayed from a queue: its AMI is gone, it stays gone.
    with op.writes() as replay:
        assert op.invoke(op.late_event(vanished)) == ["stale"]
    assert replay == []
    assert op.ssm_ami() == op.amis[middle]
    first_run = op.run_reconcile()
    assert first_run["counts"] == {**dict.fromkeys(first_run["counts"], 0), "tagged": 1}
    assert op.protected() == {op.amis[first], op.amis[middle]}
    assert op.ssm_ami() == op.amis[middle]
    with op.writes() as again:
        assert _zero(op.run_reconcile())
    assert again == []


# --- two regions: the fallback checks every region ----------------------------------------------


def test_an_ami_vanished_in_the_second_region_falls_back_to_a_build_whole_in_both(
    two_regions: Operator,
) -> None:
    """Before: the store's condition compared the vanished AMI with the home region's
    only, so a fallback from a second region's AMI never landed. A fallback checked in
    the home region only would pick build 2, whose eu-west-1 AMI is gone too."""
    op = two_regions
    first, second, third = op.make(0), op.make(1), op.make(2)
    op.deliver()
    assert op.ssm_ami(EXTRA) == op.region_amis[third][EXTRA]
    op.deregister_in(EXTRA, third)
    op.deregister_in(EXTRA, second)

    summary = op.run_reconcile()

    assert summary["counts"]["fallbacks"] == 1, summary
    for region in op.regions:
        assert op.ssm_ami(region) == op.region_amis[first][region]
    assert op.record()["amiBuildId"] == {"S": first}
    assert _zero(op.run_reconcile())


# --- rollback is measured from what the parameter holds ----------------------------------------


def test_rollback_goes_to_the_good_build_before_the_one_the_parameter_holds(op: Operator) -> None:
    """The parameter, not the record, says what the runners launch: someone put build 2's
    AMI back by hand, so a rollback goes to build 1 (not to build 2, before the record's)."""
    first, second, third = op.make(0), op.make(1), op.make(2)
    op.deliver()
    op.aws.put_parameter({**op.aws.parameter_json(), "amiId": op.amis[second]})

    rolled = op.cli("rollback", "linux-x64")

    assert rolled["pin"]["buildId"] == first
    assert op.ssm_ami() == op.amis[first]
    assert op.record()["amiBuildId"] == {"S": third}
