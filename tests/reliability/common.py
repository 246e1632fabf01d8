"""Shared pieces of the reliability suite: the world, write-counting ports, log capture, figures.

The figures every harness produces (cases run, inputs tried, outcomes) are written as JSON to
``build/reliability/<name>.json`` and printed at the end of the pytest run, so
``docs/reliability.md`` can quote real numbers.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from amistate_adapters.memory import (
    MemoryImageCatalog,
    MemoryParameterStore,
    MemoryPipelineStarter,
    MemoryPresetCatalog,
    MemoryStateStore,
    MemoryTable,
)

from amistate.core.rules import Transition
from amistate.core.settings import Settings
from amistate.ports import ApplyResult, Parameter, Ports, Preset, Written
from amistate.shims import runtime
from tests.shims.fakes import ACCOUNT as ACCOUNT
from tests.shims.fakes import REGION as REGION
from tests.shims.fakes import sample

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "build" / "reliability"

PRESET = "linux-x64"
PIPELINE = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/spot-runner-linux-x64"
PREFIX = "/spot-runner/configs"
PARAMETER = f"{PREFIX}/{PRESET}"
BUILD = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3"
AMI = "ami-0a1b2c3d4e5f60718"
#: When build 3 started (the samples' dateCreated, "Jan 18, 2024 5:21:03 PM").
STARTED = datetime(2024, 1, 18, 17, 21, 3, tzinfo=UTC)
#: Planted in every preset configuration: it must never reach a log line or a Reason.
SECRET = "s3cr3t-M4RK3R-7f1e9c"
CONFIG: Mapping[str, Any] = {
    "timeout": 3600,
    "spot": True,
    "instanceTypes": ["c7i.large"],
    "registrationToken": SECRET,
}

EB_AVAILABLE: Mapping[str, Any] = sample("eventbridge-image-state-change-available.json")
SNS_AVAILABLE: Mapping[str, Any] = sample("sns-image-notification-available.json")
IMAGE: Mapping[str, Any] = json.loads(SNS_AVAILABLE["Records"][0]["Sns"]["Message"])

WRITES = frozenset(
    {
        "states.apply",
        "states.create_initial",
        "catalog.register",
        "catalog.unregister",
        "parameters.put",
        "starter.start",
    }
)


class Calls:
    """Every port call, by name, thread-safely."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.names: list[str] = []

    def add(self, name: str) -> None:
        with self._lock:
            self.names.append(name)

    def writes(self) -> list[str]:
        with self._lock:
            return [name for name in self.names if name in WRITES]

    def clear(self) -> None:
        with self._lock:
            self.names.clear()


class _States(MemoryStateStore):
    def __init__(self, table: MemoryTable, calls: Calls) -> None:
        super().__init__(table)
        self.calls = calls

    def apply(self, preset: str, transition: Transition) -> ApplyResult:
        self.calls.add("states.apply")
        return super().apply(preset, transition)

    def get(self, preset: str) -> Any:
        self.calls.add("states.get")
        return super().get(preset)

    def current(self, preset: str) -> Any:
        self.calls.add("states.current")
        return super().current(preset)

    def create_initial(self, preset: str, created_at: datetime) -> bool:
        self.calls.add("states.create_initial")
        return super().create_initial(preset, created_at)


class _Catalog(MemoryPresetCatalog):
    def __init__(self, table: MemoryTable, calls: Calls) -> None:
        super().__init__(table)
        self.calls = calls

    def register(self, preset: Preset, previous_pipeline_arn: str | None = None) -> None:
        self.calls.add("catalog.register")
        super().register(preset, previous_pipeline_arn)

    def unregister(self, preset: str, pipeline_arn: str | None) -> None:
        self.calls.add("catalog.unregister")
        super().unregister(preset, pipeline_arn)

    def presets_for_pipeline(self, pipeline_arn: str) -> tuple[str, ...]:
        self.calls.add("catalog.presets_for_pipeline")
        return super().presets_for_pipeline(pipeline_arn)


class _Parameters(MemoryParameterStore):
    def __init__(self, region: str, calls: Calls) -> None:
        super().__init__(region)
        self.calls = calls

    def get(self, name: str) -> Parameter | None:
        self.calls.add("parameters.get")
        return super().get(name)

    def put(self, name: str, value: str, like: Parameter | None) -> Written:
        self.calls.add("parameters.put")
        return super().put(name, value, like)


class _Images(MemoryImageCatalog):
    def __init__(self, calls: Calls) -> None:
        super().__init__()
        self.calls = calls

    def describe(self, build_arn: str) -> Any:
        self.calls.add("images.describe")
        return super().describe(build_arn)


class _Starter(MemoryPipelineStarter):
    def __init__(self, calls: Calls) -> None:
        super().__init__()
        self.calls = calls

    def start(self, pipeline_arn: str, client_token: str) -> str:
        self.calls.add("starter.start")
        return super().start(pipeline_arn, client_token)


class MemoryWorld:
    """One preset deployed over in-memory ports whose every call is counted."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.calls = Calls()
        self.table = MemoryTable()
        self.states = _States(self.table, self.calls)
        self.catalog = _Catalog(self.table, self.calls)
        self.images = _Images(self.calls)
        self.parameters = _Parameters(REGION, self.calls)
        self.starter = _Starter(self.calls)
        # As the production wiring builds them from the function ARN (account, partition).
        self.settings = settings or Settings(home_region=REGION, account=ACCOUNT, partition="aws")
        self.runtime = runtime.from_ports(
            self.settings,
            Ports(
                states=self.states,
                catalog=self.catalog,
                images=self.images,
                parameters={REGION: self.parameters},
                starter=self.starter,
            ),
        )
        self.images.add(
            BUILD, PIPELINE, {REGION: AMI, "eu-west-1": "ami-0f9e8d7c6b5a40312"}, created=STARTED
        )
        # Deployed: the record exists, the preset is mapped, SSM holds the config.
        self.states.create_initial(PRESET, datetime(2024, 1, 1).astimezone())
        self.catalog.register(Preset(PRESET, PIPELINE, dict(CONFIG)))
        self.parameters.put(PARAMETER, json.dumps(dict(CONFIG)), None)
        self.calls.clear()

    def install(self) -> None:
        runtime.configure(self.runtime)

    def snapshot(self) -> Any:
        return (
            dict(self.table.records),
            dict(self.table.pipelines),
            dict(self.parameters.parameters),
            list(self.starter.builds),
        )


# --- logs ---------------------------------------------------------------------------------


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Captured:
    """Log records captured at DEBUG from every logger."""

    def __init__(self, collector: _Collector) -> None:
        self._collector = collector

    @property
    def records(self) -> list[logging.LogRecord]:
        return list(self._collector.records)

    def text(self) -> str:
        return "\n".join(_render(record) for record in self._collector.records)

    def decisions(self) -> list[dict[str, Any]]:
        """The amistate decision lines, parsed."""
        found: list[dict[str, Any]] = []
        for record in self._collector.records:
            if record.name == "amistate":
                value = json.loads(record.getMessage())
                assert isinstance(value, dict)
                found.append(value)
        return found


def _render(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text += "\n" + logging.Formatter().formatException(record.exc_info)
    return text


@contextmanager
def capture_logs(*names: str, root: bool = True) -> Iterator[Captured]:
    """Capture records at DEBUG: every logger (``root``), or only amistate and ``names``."""
    collector = _Collector()
    loggers = [logging.getLogger("amistate")] + [logging.getLogger(name) for name in names]
    if root:
        loggers.insert(0, logging.getLogger())
    levels = [logger.level for logger in loggers]
    attached = loggers[0] if root else loggers
    for logger in attached if isinstance(attached, list) else [attached]:
        logger.addHandler(collector)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield Captured(collector)
    finally:
        for logger in attached if isinstance(attached, list) else [attached]:
            logger.removeHandler(collector)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# --- figures --------------------------------------------------------------------------------

_figures_lock = threading.Lock()
#: The figure files written by this process (printed at the end of the run).
WRITTEN: set[str] = set()


def record_figures(name: str, figures: Mapping[str, Any]) -> None:
    """Write one harness's figures to build/reliability/<name>.json (merged within a run)."""
    with _figures_lock:
        FIGURES.mkdir(parents=True, exist_ok=True)
        path = FIGURES / f"{name}.json"
        current: dict[str, Any] = {}
        if path.exists() and name in WRITTEN:  # a new run starts the file afresh
            try:
                loaded = json.loads(path.read_text())
                current = loaded if isinstance(loaded, dict) else {}
            except ValueError:
                current = {}
        current.update(figures)
        path.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
        WRITTEN.add(name)


def all_figures() -> dict[str, Any]:
    """The figures this process wrote."""
    found: dict[str, Any] = {}
    if FIGURES.exists():
        for path in sorted(FIGURES.glob("*.json")):
            if path.stem not in WRITTEN:
                continue
            try:
                found[path.stem] = json.loads(path.read_text())
            except ValueError:
                continue
    return found
