"""A burst under SSM's write limit: 100 presets whose builds finish within 10 seconds.

SSM allows about 3 ``PutParameter`` per second per account (default throughput;
terraform-aws-github-runner #2944, #5410). :class:`ThrottlingProxy` puts that
limit in front of the bench server: a token bucket (3 per second, burst 3)
answers excess ``PutParameter`` calls with HTTP 400
``{"__type":"ThrottlingException","message":"Rate exceeded"}`` and forwards
everything else unchanged. Only SSM goes through it.

The real handler (``amistate.shims.lambda_handler.handler``) runs once per
EventBridge event, concurrently, as Lambda would:

* every worker thread is a container: its own runtime and its own boto3 clients
  (``amistate_adapters.clients.client`` is swapped for a per-thread one, so
  botocore's retry quota and adaptive rate limiter are per container, as they
  are in Lambda); as many containers as events in flight;
* the context's ``get_remaining_time_in_millis`` counts down from the
  function's timeout (30 s); an invocation that runs longer counts as a
  timeout (Lambda would have stopped it; here its thread finishes);
* a failed invocation is retried as Lambda retries an asynchronous invocation
  (which is how EventBridge invokes it): twice, 1 minute and then 2 minutes
  later. A function error is not retried by EventBridge (its 24 h / 185
  attempts policy covers delivering to Lambda, not the function's errors), so
  an event whose third attempt fails is **lost** (or in the on-failure
  destination, if one is configured).
* Time is compressed only while nothing runs: when every invocation has
  finished and the next retry is due later, the bench waits until the token
  bucket is full again and then jumps the clock to that retry. Otherwise it is
  real time; the reported times are on that clock.

Two variants run on the same presets: **as shipped** (botocore's standard
retry mode, 4 attempts, then ``SsmParameterStore.put`` paces throttled writes
within the invocation's remaining time, which the handler takes from the
context), and **before** the pacing (the adapter's safety margin set to
infinity in this process, so a throttled write re-raises at once, as it did
before issue 16 item 5). Nothing in src/ is changed for either.
"""

from __future__ import annotations

import heapq
import http.client
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from attrs import define, field, frozen

from bench.common import at, eventbridge_event, table
from bench.server import BenchServer
from bench.world import FUNCTION_ARN, World, environment, preset_ami, preset_build

TABLE = "amistate-burst"
RATE = 3.0  # PutParameter per second per account
BURST = 3.0  # the bucket's capacity
WINDOW = 10.0  # every build finishes within this many seconds
TIMEOUT_MS = 30_000  # the function's timeout
RETRY_DELAYS = (60.0, 120.0)  # Lambda's asynchronous retries: 2, after 1 and 2 minutes
THROTTLED = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()


# --- the throttling proxy ------------------------------------------------------------------


class TokenBucket:
    def __init__(self, rate: float, capacity: float) -> None:
        self.rate, self.capacity = rate, capacity
        self.tokens = capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False

    def full_in(self) -> float:
        """Seconds until the bucket is full again."""
        with self.lock:
            now = time.monotonic()
            tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            return (self.capacity - tokens) / self.rate


class ThrottlingProxy:
    """A loopback HTTP proxy: a token bucket on SSM ``PutParameter``, everything else forwarded."""

    def __init__(self, upstream: str, rate: float = RATE, capacity: float = BURST) -> None:
        self.upstream = urlsplit(upstream)
        self.bucket = TokenBucket(rate, capacity)
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        #: When each PutParameter was accepted, on ``clock`` (the run sets its own).
        self.accepted: list[float] = []
        self.clock: Callable[[], float] = time.monotonic
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                proxy.handle(self)

            def do_GET(self) -> None:
                proxy.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        if request.headers.get("X-Amz-Target") == "AmazonSSM.PutParameter":
            allowed = self.bucket.take()
            with self.lock:
                self.counts["PutParameter accepted" if allowed else "PutParameter throttled"] += 1
                if allowed:
                    self.accepted.append(self.clock())
            if not allowed:
                request.send_response(400)
                request.send_header("Content-Type", "application/x-amz-json-1.1")
                request.send_header("x-amzn-RequestId", "throttled")
                request.send_header("Content-Length", str(len(THROTTLED)))
                request.end_headers()
                request.wfile.write(THROTTLED)
                return
        host = self.upstream.hostname or "127.0.0.1"
        upstream = http.client.HTTPConnection(host, self.upstream.port, timeout=30)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() != "connection"}
            upstream.request(request.command, request.path, body, headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        request.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def __enter__(self) -> ThrottlingProxy:
        self.thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- containers: one runtime and one set of clients per worker thread -----------------------


@define
class Context:
    """A Lambda context whose remaining time counts down from the timeout."""

    deadline: float
    invoked_function_arn: str = FUNCTION_ARN
    aws_request_id: str = "burst"
    function_name: str = "amistate-state"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


_local = threading.local()


@contextmanager
def containers(config: Callable[[], Any] | None, paced: bool) -> Iterator[None]:
    """Per-thread runtimes and clients (and the variant's client configuration).

    ``paced`` False: the SSM adapter's pacing off (as before issue 16 item 5)."""
    import boto3.session
    from amistate_adapters import clients, ssm

    from amistate.shims import runtime

    saved_client, saved_get, saved_config = clients.client, runtime.get, clients.client_config
    make_config = config or saved_config

    def client(service: str, region: str | None = None) -> Any:
        made: dict[tuple[str, str | None], Any] = _local.__dict__.setdefault("clients", {})
        found = made.get((service, region))
        if found is None:
            session = _local.__dict__.setdefault("session", boto3.session.Session())
            found = session.client(service, region_name=region, config=make_config())
            made[(service, region)] = found
        return found

    def get(context: Any) -> Any:
        found = getattr(_local, "runtime", None)
        if found is None:
            found = runtime.from_environment(getattr(context, "invoked_function_arn", None))
            _local.runtime = found
        return found

    saved_margin, saved_untimed = ssm.SAFETY_MARGIN, ssm.UNTIMED_RETRIES
    if not paced:
        ssm.SAFETY_MARGIN, ssm.UNTIMED_RETRIES = float("inf"), 0
    clients.client = client  # type: ignore[assignment]
    runtime.get = get
    try:
        yield
    finally:
        clients.client = saved_client
        runtime.get = saved_get
        ssm.SAFETY_MARGIN, ssm.UNTIMED_RETRIES = saved_margin, saved_untimed


# --- the burst -------------------------------------------------------------------------------


@frozen
class Attempt:
    preset: int
    attempt: int
    started: float  # on the burst's clock
    seconds: float
    error: str  # "" when it succeeded


@define
class Outcome:
    variant: str
    presets: int
    window: float
    attempts: list[Attempt] = field(factory=list)
    converged_at: float = 0.0
    wall: float = 0.0
    skipped: float = 0.0
    proxy: Counter[str] = field(factory=Counter)
    converged: int = 0
    lost: list[int] = field(factory=list)
    writes: list[float] = field(factory=list)  # accepted PutParameter, on the burst's clock

    @property
    def failed(self) -> list[Attempt]:
        return [a for a in self.attempts if a.error]

    def needed(self) -> Counter[int]:
        """Presets by the attempt that succeeded (0: never)."""
        best: dict[int, int] = {}
        for a in self.attempts:
            if not a.error:
                best[a.preset] = min(best.get(a.preset, 99), a.attempt)
        return Counter(best.get(p, 0) for p in range(1, self.presets + 1))


def burst(
    server: BenchServer,
    presets: int,
    variant: str,
    config: Callable[[], Any] | None,
    paced: bool,
    build: int,
    window: float = WINDOW,
    seed: int = 16,
) -> Outcome:
    """One burst: ``presets`` successful builds within WINDOW seconds, retried as Lambda would."""
    outcome = Outcome(variant, presets, window)
    rng = random.Random(seed)
    events = {
        i: eventbridge_event(preset_build(i, build), "AVAILABLE", at(3600 * build + i))
        for i in range(1, presets + 1)
    }
    server.outcomes(events.values())  # AVAILABLE, whatever another section said
    quiet = logging.getLogger("amistate")  # one error line per throttled invocation: not here
    saved_propagate, quiet.propagate = quiet.propagate, False
    silencer = logging.NullHandler()
    quiet.addHandler(silencer)
    try:
        _run_burst(server, outcome, events, rng, window, config, paced)
    finally:
        quiet.removeHandler(silencer)
        quiet.propagate = saved_propagate
    return check(server, outcome, events, build)


def _run_burst(
    server: BenchServer,
    outcome: Outcome,
    events: dict[int, dict[str, Any]],
    rng: random.Random,
    window: float,
    config: Callable[[], Any] | None,
    paced: bool,
) -> None:
    from amistate.shims import lambda_handler

    presets = outcome.presets
    with ThrottlingProxy(server.url) as proxy:
        env = {**server.env({"SSM": proxy.url}), "AMISTATE_TABLE": TABLE}
        with environment(env), containers(config, paced):
            clock_start = time.monotonic()
            skipped = 0.0

            def clock() -> float:
                return time.monotonic() - clock_start + skipped

            proxy.clock = clock

            def invoke(preset: int, attempt: int) -> Attempt:
                started = clock()
                begun = time.monotonic()
                context = Context(deadline=begun + TIMEOUT_MS / 1000)
                error = ""
                try:
                    lambda_handler.handler(dict(events[preset]), context)
                except Exception as exc:
                    error = type(exc).__name__
                seconds = time.monotonic() - begun
                if not error and seconds * 1000 > TIMEOUT_MS:
                    error = "Timeout"
                return Attempt(preset, attempt, started, seconds, error)

            due = [(rng.uniform(0, window), i, 1) for i in events]
            heapq.heapify(due)
            running: set[Future[Attempt]] = set()
            with ThreadPoolExecutor(max_workers=presets) as pool:
                while due or running:
                    now = clock()
                    while due and due[0][0] <= now:
                        _, preset, attempt = heapq.heappop(due)
                        running.add(pool.submit(invoke, preset, attempt))
                    if running:
                        timeout = max(0.0, due[0][0] - clock()) if due else None
                        done, running_left = wait(running, timeout, return_when=FIRST_COMPLETED)
                        running = set(running_left)
                        for future in done:
                            result = future.result()
                            outcome.attempts.append(result)
                            if not result.error:
                                outcome.converged_at = max(
                                    outcome.converged_at, result.started + result.seconds
                                )
                            elif result.attempt <= len(RETRY_DELAYS):
                                retry_at = result.started + result.seconds
                                retry_at += RETRY_DELAYS[result.attempt - 1]
                                heapq.heappush(due, (retry_at, result.preset, result.attempt + 1))
                            else:
                                outcome.lost.append(result.preset)
                    elif due:
                        # Idle: let the bucket fill, then jump to the next retry.
                        # (Only before a retry: the first deliveries keep their real spread.)
                        gap = due[0][0] - clock()
                        retry = due[0][2] > 1
                        rest = min(gap, proxy.bucket.full_in() + 0.05) if retry else gap
                        time.sleep(max(0.0, rest))
                        if retry:
                            skipped += max(0.0, due[0][0] - clock())
            outcome.wall = time.monotonic() - clock_start
            outcome.skipped = skipped
        outcome.proxy = Counter(proxy.counts)
        outcome.writes = sorted(proxy.accepted)


def check(
    server: BenchServer, outcome: Outcome, events: dict[int, dict[str, Any]], build: int
) -> Outcome:
    """Count the presets whose record and parameter hold the build's AMI."""
    with environment({**server.env(), "AMISTATE_TABLE": TABLE}):
        world = World(TABLE, TABLE + "-baseline")
        try:
            for i in events:
                ami = preset_ami(i, build)
                record = world.record(i).get("amiId", {}).get("S")
                if record == ami and world.parameter(i)["amiId"] == ami:
                    outcome.converged += 1
        finally:
            world.close()
    return outcome


def _config(mode: str, attempts: int) -> Callable[[], Any]:
    def make() -> Any:
        from amistate_adapters import clients
        from botocore.config import Config

        base = clients.client_config()
        return base.merge(Config(retries={"mode": mode, "total_max_attempts": attempts}))

    return make


#: (name, client configuration (None: as shipped), paced SSM writes)
VARIANTS: tuple[tuple[str, Callable[[], Any] | None, bool], ...] = (
    ("before: standard retry mode, 4 attempts, no pacing", None, False),
    ("as shipped: standard, 4 attempts + SSM writes paced within the remaining time", None, True),
)
#: Not run by default (measured in an earlier run, see docs/performance.md).
ADAPTIVE: tuple[tuple[str, Callable[[], Any] | None, bool], ...] = (
    ("adaptive retry mode, 4 attempts, no pacing", _config("adaptive", 4), False),
    ("adaptive retry mode, 10 attempts, no pacing", _config("adaptive", 10), False),
)


def run(
    server: BenchServer, presets: int = 100, window: float = WINDOW, smoke: bool = False
) -> tuple[str, list[Outcome]]:
    """Every variant (smoke: the first and the last) on the same presets, one build each."""
    variants = (VARIANTS[0], VARIANTS[-1]) if smoke else VARIANTS
    with environment({**server.env(), "AMISTATE_TABLE": TABLE}):
        world = World(TABLE, TABLE + "-baseline")
        try:
            world.create_tables()
            for i in range(1, presets + 1):
                world.add_preset(i)
        finally:
            world.close()
    outcomes = [
        burst(server, presets, name, config, paced, build=n + 1, window=window)
        for n, (name, config, paced) in enumerate(variants)
    ]
    return render(outcomes), outcomes


def render(outcomes: list[Outcome]) -> str:
    rows = []
    for o in outcomes:
        needed = o.needed()
        errors = Counter(a.error for a in o.failed)
        rows.append(
            (
                o.variant,
                f"{o.converged}/{o.presets}",
                f"**{o.converged_at:.0f} s**",
                len(o.attempts),
                f"{len(o.failed)}"
                + (
                    f" ({', '.join(f'{k} {v}' for k, v in errors.most_common())})" if errors else ""
                ),
                f"{needed[1]} / {needed[2]} / {needed[3]}",
                f"**{len(o.lost)}**",
                f"{o.proxy['PutParameter accepted']} / {o.proxy['PutParameter throttled']}",
                f"{o.wall:.0f} s ({o.skipped:.0f} s skipped)",
            )
        )
    text = table(
        [
            "SSM client retries",
            "presets converged",
            "all converged after",
            "invocations",
            "failed invocations (retried by Lambda)",
            "events done at attempt 1 / 2 / 3",
            "events lost (3 attempts failed)",
            "PutParameter accepted / throttled",
            "real time",
        ],
        rows,
    )
    return (
        f"{outcomes[0].presets if outcomes else 0} presets, one successful build each, finishing "
        f"at random within {outcomes[0].window if outcomes else WINDOW:.0f} s; "
        f"SSM PutParameter limited to {RATE:.0f}/s (burst "
        f"{BURST:.0f}) by a throttling proxy; function timeout {TIMEOUT_MS // 1000} s; a failed "
        "invocation is retried after 1 and 2 minutes (Lambda asynchronous invocation), then "
        "lost. Idle time before a retry is skipped (clock compressed only while nothing runs).\n\n"
        + text
    )


if __name__ == "__main__":
    with BenchServer() as bench_server:
        print(run(bench_server)[0])
