"""A per-process pace for SSM writes: at most ``rate`` ``PutParameter`` starts a second.

SSM's write throughput is an account-wide token bucket (about 3 a second by
default). Behind an SQS queue whose event source mapping caps the function's
concurrency at N, each container that starts at most rate / N writes a second
keeps the account under the limit without a shared token: no
``ThrottlingException``, no backoff pause that leaves the bucket idle. The
slots are spaced evenly from the first write; a container that has been idle
starts at once (no credit is saved up, so two containers never burst together).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class WritePace:
    """Spaces the writes of one process ``1 / rate`` seconds apart."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until this process may start its next write; return the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        pause = start - now
        if pause > 0:
            self._sleep(pause)
        return pause


__all__ = ["WritePace"]
