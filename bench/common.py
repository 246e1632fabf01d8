"""Shared pieces: events (amistate.testing's builders), Markdown tables, the machine."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from amistate.testing import events

ROOT = Path(__file__).resolve().parents[1]

REGION = "us-west-2"
ACCOUNT = "111122223333"
#: The target accounts of the accounts benchmarks (the first one, or all three).
TARGET_ACCOUNTS = ("444455556666", "777788889999", "222233334444")
T0 = datetime(2024, 1, 18, 17, 0, 0, tzinfo=UTC)
CONFIG: dict[str, Any] = {
    "instanceTypes": ["c7i.large", "m7i.large"],
    "timeout": 3600,
    "spot": True,
    "labels": {"os": "linux", "arch": "x64"},
    "maxPrice": None,
}


def pipeline_arn(name: str) -> str:
    return f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/{name}"


def build_arn(recipe: str, build: int) -> str:
    return f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/{recipe}/1.0.0/{build}"


def ami_for(preset_index: int, build: int) -> str:
    """A valid, unique AMI ID for one build of one preset."""
    return f"ami-{preset_index:08x}{build:09x}"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


#: The start Image Builder reports for every build (bench/server.py's GetImage answers it).
CREATED = datetime(2024, 1, 18, 17, 21, 3, 113000, tzinfo=UTC)


def eventbridge_event(build: str, status: str, when: datetime) -> dict[str, Any]:
    """An EventBridge Image State Change event (the test kit's, amistate.testing.events)."""
    reason = "Step failed: build" if status == "FAILED" else None
    return events.eventbridge_event(build, status, when, reason=reason)


def sns_event(
    build: str, status: str, when: datetime, pipeline: str, amis: dict[str, str]
) -> dict[str, Any]:
    """A Lambda SNS event whose message is Image Builder's notification (the test kit's)."""
    image = events.image_notification(build, pipeline, status, amis, CREATED)
    return events.sns_event(events.sns_envelope(image, when))


def build_outcomes(events: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``{build ARN: status}`` of every event that ends a build (AVAILABLE too: a section
    may reuse a build ARN another section failed)."""
    found: dict[str, str] = {}
    for event in events:
        if "detail-type" in event:
            build, status = event["resources"][0], event["detail"]["state"]["status"]
        else:
            image = json.loads(event["Records"][0]["Sns"]["Message"])
            build, status = image["arn"], image["state"]["status"]
        if status in ("AVAILABLE", "FAILED", "CANCELLED"):
            found[build] = status
    return found


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, str]:
    """nproc, Python and library versions, for the report."""
    import boto3
    import botocore

    versions = {"boto3": boto3.__version__, "botocore": botocore.__version__}
    for name in ("moto", "attrs", "cattrs"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # pragma: no cover - reporting only
            versions[name] = "?"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"
