"""History under real concurrency: 8 threads race the same builds on dynalite.

Each thread applies the same 30 builds of two presets in its own shuffled
order, as the service does (apply; on a lost race ``decide``; a stale build is
kept with ``keep_build``). One preset starts as a legacy record without the
``history`` map, so the nested and whole-map writes race too. Afterwards the
history holds every distinct build exactly as its transition wrote it.
"""

from __future__ import annotations

import random
import threading

from amistate_adapters.dynamodb import DynamoStateStore

from amistate.core.rules import Apply, Stale, Transition, decide
from amistate.ports import Rejected
from tests.contract.test_legacy_items import seed_legacy_record
from tests.contract.test_state_store import T0, transition
from tests.servers import Table

THREADS = 8
BUILDS = 30


def handle(states: DynamoStateStore, preset: str, attempt: Transition) -> None:
    while True:
        result = states.apply(preset, attempt)
        if not isinstance(result, Rejected):
            return
        decision = decide(result.current, attempt)
        if isinstance(decision, Stale):
            states.keep_build(preset, attempt.entry)
        if not isinstance(decision, Apply):
            return
        attempt = decision.transition


def test_history_holds_every_build_after_a_race(dynalite_table: Table) -> None:
    rng = random.Random(20240201)
    builds = [transition(n, rng.choice(["ready", "ready", "failed"])) for n in range(1, BUILDS + 1)]
    states = DynamoStateStore(dynalite_table.name, dynalite_table.client)
    seed_legacy_record(dynalite_table, "legacy")
    states.create_initial("fresh", T0)
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def worker(order: list[Transition]) -> None:
        try:
            barrier.wait()
            for attempt in order:
                for preset in ("legacy", "fresh"):
                    handle(states, preset, attempt)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(rng.sample(builds, len(builds)),))
        for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    newest = max(builds, key=lambda b: b.key)
    best = max((b for b in builds if b.sets_ami), key=lambda b: b.key)
    for preset in ("legacy", "fresh"):
        record = states.get(preset)
        assert record is not None
        assert dict(record.history) == {b.key: b.entry for b in builds}
        assert (record.order_key, record.build_id) == (newest.key, newest.build_id)
        assert (record.ami_key, record.ami_build_id) == (best.key, best.build_id)
