"""Image Builder's wire shapes for the stand-in (:mod:`amistate.testing.standin`):
the Image object, its ImageSummary, its workflow executions, its EventBridge
event (both from :mod:`amistate.testing.events`), and Image Builder's DateTime
text. Standard library only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from amistate.testing.events import eventbridge_event, image_notification

#: The statuses a build ends in.
TERMINAL = frozenset({"AVAILABLE", "FAILED", "CANCELLED"})


def iso(when: datetime) -> str:
    """Image Builder's DateTime text: UTC, milliseconds, ``Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def state_change_event(image: Mapping[str, Any], when: datetime) -> dict[str, Any]:
    """The EventBridge "EC2 Image Builder Image State Change" event of ``image``'s state."""
    state = image["state"]
    return eventbridge_event(str(image["arn"]), state["status"], when, reason=state.get("reason"))


def copy_json(image: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(image))
    return copied


def summary_of(image: Mapping[str, Any]) -> dict[str, Any]:
    """An ``imageSummaryList`` entry (ImageSummary) of an Image object."""
    keys = ("arn", "name", "type", "version", "platform", "state", "dateCreated")
    summary = {key: image[key] for key in keys}
    summary.update(
        owner=image["arn"].split(":")[4],
        outputResources=image["outputResources"],
        buildType=image["buildType"],
    )
    return copy_json(summary)


def workflows_of(image: Mapping[str, Any], ended: datetime | None) -> list[dict[str, Any]]:
    """The build's workflow executions: BUILD, then TEST once the build ended."""
    created = _parse(image["dateCreated"])
    status = image["state"]["status"]
    done = status in TERMINAL and ended is not None
    build: dict[str, Any] = {
        "workflowExecutionId": f"wf-{uuid.uuid5(uuid.NAMESPACE_URL, image['arn']).hex[:12]}",
        "type": "BUILD",
        "status": "COMPLETED" if done else "RUNNING",
        "startTime": iso(created),
    }
    if not done:
        return [build]
    assert ended is not None
    middle = created + max(ended - created, timedelta(0)) / 2
    build["endTime"] = iso(middle)
    test = {
        "workflowExecutionId": build["workflowExecutionId"] + "-test",
        "type": "TEST",
        "status": "COMPLETED" if status == "AVAILABLE" else "FAILED",
        "startTime": iso(middle),
        "endTime": iso(ended),
    }
    return [build, test]


def image_object(
    build_arn: str, pipeline_arn: str, status: str, amis: Mapping[str, str], created: str
) -> dict[str, Any]:
    """An Image object shaped like GetImage's (and the SNS notification's)."""
    return image_notification(build_arn, pipeline_arn, status, amis, created)


__all__ = [
    "TERMINAL",
    "copy_json",
    "image_object",
    "iso",
    "state_change_event",
    "summary_of",
    "workflows_of",
]
