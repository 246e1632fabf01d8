"""The log keys Powertools for AWS Lambda users search by, on every decision line."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from amistate.shims import logs


def test_cold_start_only_for_the_first_invocation_of_a_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "_cold", threading.Event())
    first = logs.invocation_keys(SimpleNamespace(aws_request_id="r-1"), environ={})
    second = logs.invocation_keys(SimpleNamespace(aws_request_id="r-2"), environ={})
    assert first == {"service": "amistate", "cold_start": True, "function_request_id": "r-1"}
    assert second == {"service": "amistate", "cold_start": False, "function_request_id": "r-2"}


def test_the_xray_trace_id_is_the_root_of_the_lambda_trace_header() -> None:
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    keys = logs.invocation_keys(None, environ={"_X_AMZN_TRACE_ID": header})
    assert keys["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert keys["function_request_id"] is None
    assert "xray_trace_id" not in logs.invocation_keys(None, environ={})


def test_every_decision_line_carries_them(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from amistate_adapters.memory import memory_ports

    from amistate.core.settings import Settings
    from amistate.shims import lambda_handler, runtime
    from amistate.wiring.compose import from_ports
    from tests.core.samples import sample

    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-abc-def;Sampled=0")
    runtime.configure(from_ports(Settings(home_region="us-west-2"), memory_ports()))
    try:
        with caplog.at_level("INFO", logger=logs.LOGGER_NAME):
            lambda_handler.handler(
                sample("eventbridge-image-state-change-building.json"),
                SimpleNamespace(aws_request_id="req-7"),
            )
    finally:
        runtime.reset()
    (line,) = [r.getMessage() for r in caplog.records if r.name == logs.LOGGER_NAME]
    assert '"decision":"ignored"' in line
    for fragment in (
        '"service":"amistate"',
        '"cold_start":',
        '"function_request_id":"req-7"',
        '"xray_trace_id":"1-abc-def"',
    ):
        assert fragment in line
