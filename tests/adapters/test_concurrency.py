"""Concurrent executions through the real service on dynalite (state) and moto (SSM).

dynalite serialises writes per item, like DynamoDB, so this checks that the
conditional writes and the SSM convergence lose no update under real
interleavings: 8 threads each handle the same 200 events (5 presets) in their
own shuffled order, which also makes every event a duplicate 7 times over.
"""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime, timedelta

from amistate_adapters.dynamodb import DynamoPresetCatalog, DynamoStateStore
from amistate_adapters.memory import MemoryImageCatalog
from amistate_adapters.ssm import SsmParameterStore
from attrs import evolve

from amistate.core import rules
from amistate.core.arns import parse_build_arn
from amistate.core.events import BuildEvent
from amistate.core.merge import ami_of
from amistate.core.names import DEFAULT_PARAMETER_PREFIX, parameter_name
from amistate.core.settings import Settings
from amistate.ports import Preset
from amistate.usecases.converge import Converger
from amistate.usecases.service import AmiService
from tests.servers import REGION, Endpoint, Table

ACCOUNT = "111122223333"
PRESETS = [f"preset-{i}" for i in range(5)]
EVENTS_PER_PRESET = 40
THREADS = 8
T0 = datetime(2024, 1, 18, 17, 0, tzinfo=UTC)
STATUSES = ["AVAILABLE"] * 6 + ["FAILED"] * 3 + ["CANCELLED"]


def pipeline(preset: str) -> str:
    return f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/{preset}"


def make_events(rng: random.Random, images: MemoryImageCatalog) -> list[BuildEvent]:
    events = []
    for preset in PRESETS:
        for k in range(EVENTS_PER_PRESET):
            arn = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/{preset}/1.0.{k}/1"
            # few distinct times: many ties, broken by the version
            time = T0 + timedelta(minutes=rng.randrange(10))
            ami = f"ami-{PRESETS.index(preset):08x}{k:09x}"
            status = rng.choice(STATUSES)
            images.add(arn, pipeline(preset), {REGION: ami}, created=time, status=status)
            events.append(
                BuildEvent(
                    build=parse_build_arn(arn),
                    status=status,
                    time=time,
                    reason="boom" if rng.random() < 0.5 else None,
                )
            )
    return events


def test_no_lost_update_under_concurrency(dynalite_table: Table, moto: Endpoint) -> None:
    rng = random.Random(20240118)
    images = MemoryImageCatalog()
    events = make_events(rng, images)
    states = DynamoStateStore(dynalite_table.name, dynalite_table.client)
    catalog = DynamoPresetCatalog(dynalite_table.name, dynalite_table.client)
    ssm = SsmParameterStore(moto.client("ssm"), REGION)
    for preset in PRESETS:
        states.create_initial(preset, T0)
        catalog.register(Preset(preset, pipeline(preset), {"preset": preset, "timeout": 3600}))
    settings = Settings(home_region=REGION, account=ACCOUNT)
    service = AmiService(
        settings=settings,
        states=states,
        catalog=catalog,
        images=images,
        converger=Converger(settings, states, {REGION: ssm}),
    )

    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    orders = [rng.sample(events, len(events)) for _ in range(THREADS)]

    def worker(order: list[BuildEvent], keep_stale: bool) -> None:
        try:
            barrier.wait()
            for event in order:
                service.handle(event, keep_stale=keep_stale)
        except BaseException as exc:
            errors.append(exc)

    # Half the threads deliver as the event Lambda does, half as reconcile runs do
    # (which also keep a late, stale build in the history).
    threads = [
        threading.Thread(target=worker, args=(order, n % 2 == 1)) for n, order in enumerate(orders)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    for preset in PRESETS:
        # GetImage's dateCreated (here: the event time) orders the builds
        mine = [evolve(e, created=e.time) for e in events if e.build.name == preset]
        newest = max(mine, key=rules.ordering_key)
        best = max((e for e in mine if e.status == "AVAILABLE"), key=rules.ordering_key)
        record = states.get(preset)
        assert record is not None
        assert set(record.history) == {rules.ordering_key(e) for e in mine}  # every build
        assert record.ami_build_id == best.build.arn
        assert record.order_key == rules.ordering_key(newest)
        assert record.build_id == newest.build.arn
        assert record.status == rules.classify(newest.status)
        assert record.updated_at == newest.time
        assert record.ami_key == rules.ordering_key(best)
        assert record.ami_id == images.describe(best.build.arn).amis.at(REGION)
        param = ssm.get(parameter_name(DEFAULT_PARAMETER_PREFIX, preset))
        assert param is not None
        assert ami_of(param.value) == record.ami_id
        assert json.loads(param.value) == {
            "preset": preset,
            "timeout": 3600,
            "amiId": record.ami_id,
        }
