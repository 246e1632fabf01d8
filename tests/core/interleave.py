"""A deterministic scheduler that interleaves concurrent executions port call by port call.

Each execution runs in its own thread, but only one runs at a time: before
every port call it parks at a gate and waits for the scheduler to let it go.
The test (hypothesis, or an exhaustive search) decides which parked execution
takes the next step, and may *abandon* one at a gate: the execution dies after
its previous call succeeded, as a Lambda does when it crashes or times out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from attrs import define, field

State = Literal["new", "waiting", "running", "done", "abandoned", "failed"]


class Abandoned(BaseException):
    """Raised inside an execution the scheduler abandons (BaseException: nothing catches it)."""


@define
class Call:
    """One port call as it was made: which execution, which port, which method."""

    execution: str
    port: str
    method: str
    args: tuple[Any, ...]


@define(eq=False)
class Execution:
    name: str
    fn: Callable[[], Any]
    go: threading.Semaphore = field(factory=lambda: threading.Semaphore(0))
    state: State = "new"
    abandon: bool = False
    result: Any = None
    error: BaseException | None = None

    @property
    def waiting(self) -> bool:
        return self.state == "waiting"


class Scheduler:
    """Runs executions one port call at a time, in the order the caller chooses."""

    def __init__(self) -> None:
        self._parked = threading.Semaphore(0)
        self._local = threading.local()
        self.calls: list[Call] = []
        self.executions: list[Execution] = []

    # -- inside executions ------------------------------------------------------

    def gate(self, port: str, method: str, args: tuple[Any, ...]) -> None:
        execution: Execution | None = getattr(self._local, "execution", None)
        if execution is None:  # a call from the test itself, outside any execution
            return
        execution.state = "waiting"
        self._parked.release()
        execution.go.acquire()
        if execution.abandon:
            raise Abandoned
        execution.state = "running"
        self.calls.append(Call(execution.name, port, method, args))

    def _run(self, execution: Execution) -> None:
        self._local.execution = execution
        try:
            execution.result = execution.fn()
            execution.state = "done"
        except Abandoned:
            execution.state = "abandoned"
        except Exception as exc:
            execution.error = exc
            execution.state = "failed"
        finally:
            self._parked.release()

    # -- from the test --------------------------------------------------------------

    def start(self, name: str, fn: Callable[[], Any]) -> Execution:
        """Start an execution and wait until it parks before its first call (or ends)."""
        execution = Execution(name, fn)
        execution.state = "running"
        self.executions.append(execution)
        threading.Thread(target=self._run, args=(execution,), daemon=True).start()
        self._parked.acquire()
        return execution

    def step(self, execution: Execution, abandon: bool = False) -> None:
        """Let a parked execution make its next call (or abandon it there)."""
        assert execution.waiting, f"{execution.name} is {execution.state}"
        execution.abandon = abandon
        execution.state = "running"
        execution.go.release()
        self._parked.acquire()

    def waiting(self) -> list[Execution]:
        return [e for e in self.executions if e.waiting]

    def abandon_all(self) -> None:
        for execution in self.waiting():
            self.step(execution, abandon=True)


class Gated:
    """A proxy for a port: every method call passes the scheduler's gate first."""

    def __init__(self, scheduler: Scheduler, name: str, port: object) -> None:
        self._scheduler = scheduler
        self._name = name
        self._port = port

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._port, attribute)
        if not callable(value):
            return value

        def gated(*args: Any, **kwargs: Any) -> Any:
            self._scheduler.gate(self._name, attribute, args)
            return value(*args, **kwargs)

        return gated


def gated_mapping(scheduler: Scheduler, name: str, ports: Mapping[str, object]) -> dict[str, Any]:
    return {key: Gated(scheduler, f"{name}[{key}]", port) for key, port in ports.items()}


def calls_of(scheduler: Scheduler, execution: str) -> Iterator[Call]:
    return (c for c in scheduler.calls if c.execution == execution)
