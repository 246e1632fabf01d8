"""How much time the current invocation has left, for adapters that may wait.

The composition root owns one :class:`Deadline` per runtime and hands it to
the adapters that pace retries (the SSM parameter store). An entry point that
knows its time budget sets it for the duration of one invocation with
:meth:`Deadline.running`, passing a callable that returns the milliseconds
left (a Lambda context's ``get_remaining_time_in_millis`` fits; nothing here
knows about Lambda). Outside such a block there is no deadline:
:meth:`Deadline.remaining` is None and the adapters fall back to a bounded
number of retries.

The deadline is per thread: concurrent invocations sharing one runtime (the
demo's racing events, threaded tests) each see their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Deadline:
    """The end of the current thread's invocation, on ``clock`` (seconds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._local = threading.local()

    def remaining(self) -> float | None:
        """Seconds left in the current invocation (never negative); None: no deadline."""
        ends: float | None = getattr(self._local, "ends", None)
        if ends is None:
            return None
        return max(0.0, ends - self.clock())

    @contextmanager
    def running(self, remaining_ms: Callable[[], object] | None) -> Iterator[None]:
        """The deadline of one invocation: ``remaining_ms()`` milliseconds from now.

        ``remaining_ms`` None, or one that raises or returns something other
        than a non-negative number, means no deadline (a test's bare context).
        The previous deadline of this thread is restored afterwards.
        """
        saved = getattr(self._local, "ends", None)
        self._local.ends = self._ends(remaining_ms)
        try:
            yield
        finally:
            self._local.ends = saved

    def _ends(self, remaining_ms: Callable[[], object] | None) -> float | None:
        if remaining_ms is None:
            return None
        try:
            left = remaining_ms()
        except Exception:
            return None
        if isinstance(left, bool) or not isinstance(left, int | float) or not left >= 0:
            return None
        return self.clock() + float(left) / 1000.0


__all__ = ["Deadline"]
