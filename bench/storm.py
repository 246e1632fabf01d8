"""The storm (issue 24): 100 builds finishing within 10 s, SSM at 3 writes a second.

The same throttling proxy, presets and clock as :mod:`bench.burst`; two deliveries:

* **before**: EventBridge invokes the function asynchronously, one container
  per event, each write retried within the invocation's time (the burst's
  "as shipped" variant, which is what the CDK example deployed before);
* **after**: EventBridge sends the events to an SQS queue, and the queue's
  event source mapping invokes the function with batches (batch size
  :data:`BATCH_SIZE`, batching window :data:`BATCH_WINDOW` s, maximum
  concurrency :data:`MAX_CONCURRENCY`, ``ReportBatchItemFailures``). Each
  container paces its writes at ``AMISTATE_SSM_WRITE_RATE`` = rate /
  concurrency, so the account stays at the limit instead of over it. A
  record named in ``batchItemFailures`` (or every record of a batch that
  raised or timed out) becomes visible again after the visibility timeout;
  its :data:`MAX_RECEIVES`-th failed receive sends it to the dead-letter
  queue (lost, as the async path's third failed attempt).

The floor is the writes needed over the allowed rate (100 / 3 = 33 s from the
first event); the budget is :data:`FACTOR` times it for every parameter to
hold its build's AMI, with no event needing its last attempt and none lost.
"""

from __future__ import annotations

import heapq
import json
import logging
import random
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from attrs import frozen

from bench import burst
from bench.burst import RATE, TIMEOUT_MS, Attempt, Context, Outcome, ThrottlingProxy
from bench.common import REGION, at, eventbridge_event, table
from bench.server import BenchServer
from bench.world import World, environment, preset_build

BATCH_SIZE = 10
BATCH_WINDOW = 1.0  # MaximumBatchingWindowInSeconds
MAX_CONCURRENCY = 2  # ScalingConfig.MaximumConcurrency (the least SQS allows)
VISIBILITY = 6 * TIMEOUT_MS / 1000  # AWS's advice: 6 x the function timeout
MAX_RECEIVES = 3  # the redrive policy's maxReceiveCount, then the dead-letter queue
FACTOR = 1.3  # the budget: within 1.3 x the floor
QUEUE_ARN = f"arn:aws:sqs:{REGION}:123456789012:amistate-state-events"


@frozen
class Message:
    visible_at: float
    preset: int
    receives: int  # receives so far (the next one is receives + 1)


@contextmanager
def _quiet() -> Iterator[None]:
    """The handler's log lines stay out of the bench's output."""
    logger = logging.getLogger("amistate")
    saved, logger.propagate = logger.propagate, False
    silencer = logging.NullHandler()
    logger.addHandler(silencer)
    try:
        yield
    finally:
        logger.removeHandler(silencer)
        logger.propagate = saved


def sqs_event(events: dict[int, dict[str, Any]], batch: list[Message]) -> dict[str, Any]:
    """The SQS event Lambda's event source mapping passes: one record per message."""
    return {
        "Records": [
            {
                "messageId": f"m-{m.preset}",
                "receiptHandle": f"r-{m.preset}-{m.receives + 1}",
                "body": json.dumps(events[m.preset]),
                "attributes": {"ApproximateReceiveCount": str(m.receives + 1)},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
                "awsRegion": REGION,
            }
            for m in batch
        ]
    }


def queued(server: BenchServer, presets: int, build: int, window: float, seed: int = 16) -> Outcome:
    """The storm through the queue: batches, capped concurrency, paced writes."""
    outcome = Outcome(
        "after: SQS queue, maximum concurrency 2, batches, paced writes", presets, window
    )
    rng = random.Random(seed)
    events = {
        i: eventbridge_event(preset_build(i, build), "AVAILABLE", at(3600 * build + i))
        for i in range(1, presets + 1)
    }
    server.outcomes(events.values())  # AVAILABLE, whatever another section said
    due = [Message(rng.uniform(0, window), i, 0) for i in events]
    with _quiet():
        _run_queue(server, outcome, events, due)
    return burst.check(server, outcome, events, build)


def _run_queue(
    server: BenchServer, outcome: Outcome, events: dict[int, dict[str, Any]], due: list[Message]
) -> None:
    from amistate.shims import lambda_handler

    pending = [(m.visible_at, m.preset, m) for m in due]
    heapq.heapify(pending)
    with ThrottlingProxy(server.url) as proxy:
        env = {
            **server.env({"SSM": proxy.url}),
            "AMISTATE_TABLE": burst.TABLE,
            "AMISTATE_SSM_WRITE_RATE": str(RATE / MAX_CONCURRENCY),
        }
        with environment(env), burst.containers(None, paced=True):
            clock_start = time.monotonic()
            skipped = 0.0

            def clock() -> float:
                return time.monotonic() - clock_start + skipped

            proxy.clock = clock

            def invoke(batch: list[Message]) -> list[Attempt]:
                started, begun = clock(), time.monotonic()
                context = Context(deadline=begun + TIMEOUT_MS / 1000)
                failed: set[int] = set()
                error = ""
                try:
                    answer = lambda_handler.handler(sqs_event(events, batch), context)
                    names = {f["itemIdentifier"] for f in (answer or {})["batchItemFailures"]}
                    failed = {m.preset for m in batch if f"m-{m.preset}" in names}
                    error = "BatchItemFailure"
                except Exception as exc:
                    failed, error = {m.preset for m in batch}, type(exc).__name__
                seconds = time.monotonic() - begun
                if seconds * 1000 > TIMEOUT_MS:
                    failed, error = {m.preset for m in batch}, "Timeout"
                return [
                    Attempt(
                        m.preset,
                        m.receives + 1,
                        started,
                        seconds,
                        error if m.preset in failed else "",
                    )
                    for m in batch
                ]

            running: set[Future[list[Attempt]]] = set()
            ready: list[Message] = []
            with ThreadPoolExecutor(max_workers=MAX_CONCURRENCY) as pool:
                while pending or ready or running:
                    now = clock()
                    while pending and pending[0][0] <= now:
                        ready.append(heapq.heappop(pending)[2])
                    while ready and len(running) < MAX_CONCURRENCY:
                        full = len(ready) >= BATCH_SIZE or not pending
                        if not full and now < ready[0].visible_at + BATCH_WINDOW:
                            break
                        batch, ready = ready[:BATCH_SIZE], ready[BATCH_SIZE:]
                        running.add(pool.submit(invoke, batch))
                    wake = [pending[0][0]] if pending else []
                    if ready:
                        wake.append(ready[0].visible_at + BATCH_WINDOW)
                    timeout = max(0.0, min(wake) - clock()) if wake else None
                    if running:
                        done, left = wait(running, timeout, return_when=FIRST_COMPLETED)
                        running = set(left)
                        for future in done:
                            _settle(outcome, future.result(), pending, clock)
                    elif not ready and pending and pending[0][2].receives > 0:
                        # Idle until a redelivery: let the bucket fill, then jump to it.
                        time.sleep(min(timeout or 0.0, proxy.bucket.full_in() + 0.05))
                        skipped += max(0.0, pending[0][0] - clock())
                    else:
                        time.sleep(min(timeout or 0.0, 0.05))
            outcome.wall = time.monotonic() - clock_start
            outcome.skipped = skipped
        outcome.proxy = proxy.counts.copy()
        outcome.writes = sorted(proxy.accepted)


def _settle(
    outcome: Outcome, attempts: list[Attempt], pending: list[tuple[float, int, Message]], clock: Any
) -> None:
    """Record a batch's attempts; failed messages come back after the visibility timeout."""
    for attempt in attempts:
        outcome.attempts.append(attempt)
        end = attempt.started + attempt.seconds
        if not attempt.error:
            outcome.converged_at = max(outcome.converged_at, end)
        elif attempt.attempt < MAX_RECEIVES:
            message = Message(end + VISIBILITY, attempt.preset, attempt.attempt)
            heapq.heappush(pending, (message.visible_at, message.preset, message))
        else:
            outcome.lost.append(attempt.preset)


def floor(presets: int) -> float:
    """Seconds the writes need at the allowed rate (the bucket's first tokens aside)."""
    return presets / RATE


def run(
    server: BenchServer, presets: int = 100, window: float = burst.WINDOW
) -> tuple[str, list[Outcome]]:
    """Before (async, one container per event) and after (the queue), on the same presets."""
    with environment({**server.env(), "AMISTATE_TABLE": burst.TABLE}):
        world = World(burst.TABLE, burst.TABLE + "-baseline")
        try:
            world.create_tables()
            for i in range(1, presets + 1):
                world.add_preset(i)
        finally:
            world.close()
    name, config, paced = burst.VARIANTS[-1]
    before = burst.burst(
        server,
        presets,
        "before: " + name.removeprefix("as shipped: "),
        config,
        paced,
        build=1,
        window=window,
    )
    after = queued(server, presets, build=2, window=window)
    return render([before, after]), [before, after]


def render(outcomes: list[Outcome]) -> str:
    presets = outcomes[0].presets
    rows = []
    for o in outcomes:
        needed = o.needed()
        rows.append(
            (
                o.variant,
                f"{o.converged}/{o.presets}",
                f"**{o.converged_at:.1f} s**",
                f"{o.converged_at / floor(presets):.2f}",
                len(o.attempts),
                f"{needed[1]} / {needed[2]} / {needed[3]}",
                f"**{len(o.lost)}**",
                f"{o.proxy['PutParameter accepted']} / {o.proxy['PutParameter throttled']}",
                f"{o.wall:.0f} s ({o.skipped:.0f} s skipped)",
            )
        )
    text = table(
        [
            "delivery",
            "presets converged",
            "all converged after",
            "x floor",
            "attempts (events x tries)",
            "events done at attempt 1 / 2 / 3",
            "events lost",
            "PutParameter accepted / throttled",
            "real time",
        ],
        rows,
    )
    return (
        f"{presets} presets, one successful build each, finishing at random within "
        f"{outcomes[0].window:.0f} s; SSM PutParameter limited to {RATE:.0f}/s (burst "
        f"{burst.BURST:.0f}) by a throttling proxy; function timeout {TIMEOUT_MS // 1000} s. "
        f"Floor: {presets} writes / {RATE:.0f} per s = {floor(presets):.1f} s; budget "
        f"{FACTOR} x floor = {FACTOR * floor(presets):.1f} s. Before: a failed invocation is "
        "retried after 1 and 2 minutes (Lambda asynchronous invocation). After: batch size "
        f"{BATCH_SIZE}, batching window {BATCH_WINDOW:.0f} s, maximum concurrency "
        f"{MAX_CONCURRENCY}, `AMISTATE_SSM_WRITE_RATE={RATE / MAX_CONCURRENCY}`; a failed record "
        f"returns after the visibility timeout ({VISIBILITY:.0f} s), the {MAX_RECEIVES}rd failed "
        "receive goes to the dead-letter queue. Idle time before a retry is skipped.\n\n" + text
    )


def rates(outcome: Outcome, seconds: int) -> list[int]:
    """Accepted writes in each whole second of the storm's clock."""
    counts = [0] * seconds
    for when in outcome.writes:
        if 0 <= int(when) < seconds:
            counts[int(when)] += 1
    return counts


if __name__ == "__main__":
    with BenchServer() as bench_server:
        print(run(bench_server)[0])
