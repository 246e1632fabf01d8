"""WritePace spaces one process's SSM writes; an injected clock and sleep, so nothing waits."""

from __future__ import annotations

from amistate_adapters.write_pace import WritePace

from tests.adapters.test_ssm_pacing import FakeTime


def test_writes_are_spaced_by_the_interval_and_an_idle_process_starts_at_once() -> None:
    time_ = FakeTime()
    pace = WritePace(2.0, clock=time_.clock, sleep=time_.sleep)
    assert [pace.wait() for _ in range(3)] == [0.0, 0.5, 0.5]
    time_.now += 10.0  # idle: no credit saved up, the next write starts now
    assert [pace.wait(), pace.wait()] == [0.0, 0.5]
    assert time_.pauses == [0.5, 0.5, 0.5]
