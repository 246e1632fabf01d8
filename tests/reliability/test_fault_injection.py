"""Fault injection at every AWS call of every kind of event, then Lambda-style redelivery.

For each kind of event, a fault-free run on a fresh world gives the reference end state and
the list of AWS calls it makes (N calls). Then, for each fault kind and each N, a fresh world
runs the same event with call N failing (see tests/reliability/faults.py), and:

* the invocation must surface the fault: the state Lambda raises exactly the injected error
  (nothing swallowed, nothing reclassified); the custom resource answers FAILED once with the
  error in its Reason; a crash kills the invocation (no answer, like a dead process);
* SSM must never hold a partial or non-JSON value, nor lose a config key, at any point;
* re-invoking the handler with the same event until it succeeds (Lambda's retry; after a crash,
  in a new process) must reach exactly the reference end state: DynamoDB items, SSM value and
  type, builds started; the custom resource answers SUCCESS with the reference's answer;
* no log line may hold the planted config secret.

Figures go to build/reliability/faults.json (see docs/reliability.md).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from attrs import frozen

from amistate.shims import custom_resource, lambda_handler
from tests.reliability.aws_world import BUILD_4, BUILD_5, AwsWorld
from tests.reliability.common import (
    ACCOUNT,
    EB_AVAILABLE,
    PIPELINE,
    REGION,
    SECRET,
    SNS_AVAILABLE,
    capture_logs,
    record_figures,
)
from tests.reliability.faults import FAULTS, Crash, is_the_fault
from tests.shims.fakes import Context, ResponseServer, sample

MAX_DELIVERIES = 5
#: What a FAILED answer's Reason must name for each fault.
REASON_NAMES = {
    "throttling": "ThrottlingException",
    "http-500": "InternalServerError",
    "connection-reset": "ConnectionClosedError",
    "read-timeout": "ReadTimeoutError",
}


def eventbridge(build: str, status: str, when: str) -> dict[str, Any]:
    name = "available" if status == "AVAILABLE" else "failed"
    event: dict[str, Any] = sample(f"eventbridge-image-state-change-{name}.json")
    event["resources"] = [build]
    event["time"] = when
    return event


OLDER = eventbridge(EB_AVAILABLE["resources"][0], "AVAILABLE", "2024-01-18T17:50:56Z")
NEWER = eventbridge(BUILD_4, "AVAILABLE", "2024-01-19T09:00:00Z")
FAILURE = eventbridge(BUILD_5, "FAILED", "2024-01-19T04:12:07Z")


@frozen
class Kind:
    name: str
    event: Callable[[ResponseServer], Any]
    before: tuple[dict[str, Any], ...] = ()  # delivered fault-free first
    deployed: bool = True
    resource: bool = False


def _create(responses: ResponseServer) -> dict[str, Any]:
    props = {
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:amistate-preset",
        "PresetName": "linux-x64",
        "PipelineArn": PIPELINE,
        "Config": json.dumps({"timeout": 3600, "spot": True, "registrationToken": SECRET}),
    }
    return {
        "RequestType": "Create",
        "ServiceToken": props["ServiceToken"],
        "ResponseURL": responses.response_url(),
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/runners/6f0b2c10",
        "RequestId": "0c7e9a44-0000-4000-8000-000000000001",
        "LogicalResourceId": "LinuxPreset",
        "ResourceType": "Custom::AmistatePreset",
        "ResourceProperties": props,
    }


KINDS = {
    k.name: k
    for k in (
        Kind("success-eventbridge", lambda _: copy.deepcopy(OLDER)),
        Kind("success-sns", lambda _: copy.deepcopy(dict(SNS_AVAILABLE))),
        Kind("failure", lambda _: copy.deepcopy(FAILURE), before=(OLDER,)),
        Kind("stale", lambda _: copy.deepcopy(OLDER), before=(NEWER,)),
        Kind("duplicate", lambda _: copy.deepcopy(OLDER), before=(OLDER,)),
        Kind("custom-resource-create", _create, deployed=False, resource=True),
    )
}


class Harness:
    def __init__(self, world: AwsWorld, responses: ResponseServer) -> None:
        self.world = world
        self.responses = responses
        self._references: dict[str, tuple[dict[str, Any], list[str], Any]] = {}

    def prepare(self, kind: Kind) -> Any:
        """A fresh world in the kind's starting state; returns its event."""
        self.world.fresh()
        if kind.deployed:
            self.world.deploy()
        for event in kind.before:
            assert lambda_handler.handler(copy.deepcopy(event), Context()) is None
        self.world.new_process()  # the event is handled by a cold process
        self.world.injector.disarm()
        return kind.event(self.responses)

    def answers(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        path = urlsplit(event["ResponseURL"]).path
        return [r.body for r in self.responses.all_received() if urlsplit(r.path).path == path]

    def invoke(self, kind: Kind, event: Any) -> Any:
        """One invocation; raises what the handler raised; the CR's answer otherwise."""
        if not kind.resource:
            return lambda_handler.handler(copy.deepcopy(event), Context())
        custom_resource.handler(copy.deepcopy(event), Context(function_name="amistate-preset"))
        answers = self.answers(event)
        assert len(answers) == 1, f"expected exactly one answer, got {answers}"
        return answers[0]

    def reference(self, kind: Kind) -> tuple[dict[str, Any], list[str], Any]:
        if kind.name not in self._references:
            event = self.prepare(kind)
            result = self.invoke(kind, event)
            operations = list(self.world.injector.operations)
            if kind.resource:
                assert result["Status"] == "SUCCESS", result
                result = {k: result[k] for k in ("Status", "PhysicalResourceId", "Data")}
            self.world.check_parameter()
            self._references[kind.name] = (self.world.snapshot(), operations, result)
        return self._references[kind.name]


@pytest.fixture(scope="module")
def harness(aws_world: tuple[AwsWorld, ResponseServer]) -> Harness:
    return Harness(*aws_world)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind_name", list(KINDS))
def test_every_call_faulted_then_redelivered_converges(
    harness: Harness, kind_name: str, fault: str
) -> None:
    kind = KINDS[kind_name]
    world, injector = harness.world, harness.world.injector
    expected, operations, expected_answer = harness.reference(kind)
    assert operations, "every kind of event makes AWS calls"
    started = time.perf_counter()
    figures: dict[str, float] = {"calls": len(operations), "cases": 0, "surfaced": 0}
    figures |= {"converged": 0, "redeliveries": 0, "max_deliveries": 0, "attempts_failed": 0}

    for n in range(1, len(operations) + 1):
        where = f"{kind.name}: {fault} at call {n} ({operations[n - 1]})"
        event = harness.prepare(kind)
        injector.arm(n, fault)
        with capture_logs(root=False) as logs:
            surfaced: BaseException | None = None
            try:
                result = harness.invoke(kind, event)
            except (Exception, Crash) as exc:
                surfaced = exc
            figures["attempts_failed"] += injector.attempts_failed
            assert injector.count >= n, f"{where}: call {n} never happened"
            made = injector.count
            injector.disarm()
            if kind.resource and fault != "crash-after":
                # The custom resource catches the fault and answers FAILED, once, naming it.
                assert surfaced is None, f"{where}: {surfaced!r}"
                assert result["Status"] == "FAILED", f"{where}: silent success {result}"
                assert result["Reason"], where
                named = REASON_NAMES[fault]
                assert named in result["Reason"], f"{where}: Reason lacks {named}: {result}"
            elif fault == "throttling" and operations[n - 1] == "PutParameter":
                # The SSM adapter paces a throttled write within the invocation's time
                # (amistate_adapters.ssm): its next PutParameter succeeds, nothing surfaces.
                assert surfaced is None, f"{where}: the paced write still failed: {surfaced!r}"
                assert made > n, f"{where}: the throttled write was not retried"
                figures["paced"] = figures.get("paced", 0) + 1
                figures["surfaced"] -= 1  # counted below with the others; this one did not
            else:
                assert surfaced is not None, f"{where}: the fault was swallowed (silent success)"
                assert is_the_fault(surfaced, fault), f"{where}: surfaced as {surfaced!r}"
                if kind.resource:
                    assert harness.answers(event) == [], f"{where}: a dead process answered"
            figures["surfaced"] += 1
            world.check_parameter()
            if fault == "crash-after":
                world.new_process()

            deliveries = 1
            while True:
                deliveries += 1
                assert deliveries <= MAX_DELIVERIES, f"{where}: no convergence"
                try:
                    result = harness.invoke(kind, event)
                except Exception as exc:  # a real error on redelivery: keep redelivering
                    print(f"{where}: redelivery failed: {exc!r}")
                    continue
                if not kind.resource or result["Status"] == "SUCCESS":
                    break
            world.check_parameter()
            assert world.snapshot() == expected, f"{where}: end state differs"
            if kind.resource:
                got = {k: result[k] for k in ("Status", "PhysicalResourceId", "Data")}
                assert got == expected_answer, where
        assert SECRET not in logs.text(), f"{where}: the config secret was logged"
        figures["cases"] += 1
        figures["converged"] += 1
        figures["redeliveries"] += deliveries - 1
        figures["max_deliveries"] = max(figures["max_deliveries"], deliveries)

    figures["seconds"] = round(time.perf_counter() - started, 2)
    record_figures("faults", {f"{kind.name}/{fault}": figures})
    record_figures("fault_calls", {kind.name: operations})
    print(f"\n{kind.name} x {fault}: {figures}")
