"""Shared pieces: sample-shaped events, Markdown tables, the machine."""

from __future__ import annotations

import copy
import json
import os
import platform
import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "samples"
SHARED_SAMPLES = ROOT.parent / "shared" / "samples"

REGION = "us-west-2"
ACCOUNT = "111122223333"
T0 = datetime(2024, 1, 18, 17, 0, 0, tzinfo=UTC)
CONFIG: dict[str, Any] = {
    "instanceTypes": ["c7i.large", "m7i.large"],
    "timeout": 3600,
    "spot": True,
    "labels": {"os": "linux", "arch": "x64"},
    "maxPrice": None,
}


def sample(name: str) -> Any:
    """A sample from tests/samples (or ../shared/samples), as a fresh object."""
    for folder in (SAMPLES, SHARED_SAMPLES):
        path = folder / name
        if path.exists():
            return json.loads(path.read_text())
    raise FileNotFoundError(name)


def pipeline_arn(name: str) -> str:
    return f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/{name}"


def build_arn(recipe: str, build: int) -> str:
    return f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/{recipe}/1.0.0/{build}"


def ami_for(preset_index: int, build: int) -> str:
    """A valid, unique AMI ID for one build of one preset."""
    return f"ami-{preset_index:08x}{build:09x}"


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


_EB = sample("eventbridge-image-state-change-available.json")
_SNS = sample("sns-image-notification-available.json")


def eventbridge_event(build: str, status: str, when: datetime) -> dict[str, Any]:
    """An EventBridge Image State Change event shaped like the sample."""
    event: dict[str, Any] = copy.deepcopy(_EB)
    event["resources"] = [build]
    event["time"] = iso(when).replace(".000Z", "Z")
    event["detail"]["state"] = {"status": status}
    if status == "FAILED":
        event["detail"]["state"]["reason"] = "Step failed: build"
    return event


def sns_event(
    build: str, status: str, when: datetime, pipeline: str, amis: dict[str, str]
) -> dict[str, Any]:
    """A Lambda SNS event whose message is Image Builder's notification."""
    event: dict[str, Any] = copy.deepcopy(_SNS)
    envelope = event["Records"][0]["Sns"]
    image = json.loads(envelope["Message"])
    image["arn"] = build
    image["state"] = {"status": status}
    image["sourcePipelineArn"] = pipeline
    template = image["outputResources"]["amis"][0]
    image["outputResources"]["amis"] = [
        {**template, "region": region, "image": ami} for region, ami in amis.items()
    ]
    envelope["Message"] = json.dumps(image)
    envelope["Timestamp"] = iso(when)
    return event


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
