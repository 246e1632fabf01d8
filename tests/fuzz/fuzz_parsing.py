"""Atheris fuzz target for amistate's parsers (``make fuzz``; not part of ``make test``).

Every input goes through one of the parsers that face the outside world, chosen by its first
byte; the rest of the bytes are spliced into a real-shaped sample (so the fuzzer starts deep
inside valid structure) or used as they are:

0. a whole Lambda event (``parse_invocation``), raw bytes as JSON;
1. an EventBridge event with the bytes spliced into its JSON text;
2. an SNS event whose ``Message`` is the notification with the bytes spliced in;
3. an SQS record whose body is the notification (raw delivery) with a spliced
   ``SentTimestamp`` (never read), a spliced ``dateCreated`` and bytes spliced into the body;
4. custom-resource properties: ``Config`` text, then ``PresetName`` and ``PipelineArn``;
5. a preset name, a parameter path and a build ARN.

Every parsed notification (SNS or SQS) must carry its build start (``created``, in UTC). The
only exceptions allowed are the documented refusals (MalformedEvent, InvalidProperties,
InvalidPresetName, the ARN parser's ValueError); anything else is a crash atheris reports.
``AMISTATE_FUZZ_TOLERATE_KNOWN=1`` tolerates the signatures of the bugs listed in
tests/reliability/test_found_bugs.py (all fixed now; kept for bisecting old commits).

This module never imports atheris at import time: ``check`` is plain Python (the reliability
suite runs it over a fixed corpus), and atheris is loaded only by ``main``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from amistate.core.arns import parse_build_arn
from amistate.core.names import parameter_name
from amistate.core.parsing import parse_invocation
from amistate.errors import InvalidPresetName, MalformedEvent
from amistate.usecases.deploy import InvalidProperties, parse_properties

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
EVENTBRIDGE = (SAMPLES / "eventbridge-image-state-change-available.json").read_text()
SNS: dict[str, Any] = json.loads((SAMPLES / "sns-image-notification-available.json").read_text())
NOTIFICATION = SNS["Records"][0]["Sns"]["Message"]
PIPELINE = "arn:aws:imagebuilder:us-west-2:111122223333:image-pipeline/spot-runner-linux-x64"
TOLERATE_KNOWN = os.environ.get("AMISTATE_FUZZ_TOLERATE_KNOWN") == "1"


def _splice(text: str, data: bytes) -> str:
    """Replace a slice of ``text`` (position and length from the first two bytes) with data."""
    if len(data) < 2:
        return text
    at = data[0] * len(text) // 256
    cut = data[1] % 16
    return text[:at] + data[2:].decode("utf-8", "replace") + text[at + cut :]


def _known(exc: BaseException) -> bool:
    """The signatures of the bugs in test_found_bugs.py (tolerated only on request)."""
    if not TOLERATE_KNOWN:
        return False
    text = str(exc)
    return (
        isinstance(exc, OverflowError | OSError)
        or (isinstance(exc, ValueError) and "invalid literal for int()" in text)
        or (isinstance(exc, ValueError) and "Out of range float values" in text)
        or (isinstance(exc, ValueError) and "year" in text and "out of range" in text)
    )


def _event(kind: int, data: bytes) -> Any:
    if kind == 0:
        return json.loads(data.decode("utf-8", "replace"))
    if kind == 1:
        return json.loads(_splice(EVENTBRIDGE, data))
    if kind == 2:
        event = json.loads(json.dumps(SNS))
        event["Records"][0]["Sns"]["Message"] = _splice(NOTIFICATION, data)
        return event
    sent = _splice("1705600257204", data[:6])
    image = json.loads(NOTIFICATION)
    image["dateCreated"] = _splice(image["dateCreated"], data[6:12])
    return {
        "Records": [
            {
                "messageId": "m-1",
                "eventSource": "aws:sqs",
                "body": _splice(json.dumps(image), data[12:]),
                "attributes": {"SentTimestamp": sent},
            }
        ]
    }


def check(data: bytes) -> None:
    """One fuzz input: raises only on a contract breach."""
    if not data:
        return
    kind, rest = data[0] % 6, data[1:]
    try:
        if kind <= 3:
            try:
                event = _event(kind, rest)
            except (ValueError, RecursionError):
                return  # the splice is not JSON: nothing reaches amistate
            invocation = parse_invocation(event)
            for item in invocation.items:
                if isinstance(item.result, MalformedEvent):
                    continue
                event = item.result
                assert event.build.arn
                if event.origin == "sns":
                    assert event.created is not None and event.created.utcoffset() == timedelta(0)
                    assert event.amis is not None
                    assert all(
                        p.region and a.startswith("ami-") for p, a in event.amis.places.items()
                    )
        elif kind == 4:
            text = rest.decode("utf-8", "replace")
            name, _, pipeline = text[:40].partition("|")
            props = {"PresetName": name or "p", "PipelineArn": pipeline or PIPELINE}
            parse_properties({**props, "Config": text})
            parse_properties({"PresetName": "p", "PipelineArn": PIPELINE, "Config": "{}", **props})
        else:
            text = rest.decode("utf-8", "replace")
            try:
                path = parameter_name("/spot-runner/configs", text)
            except InvalidPresetName:
                pass
            else:
                assert path.count("/") == 3 and ".." not in path and "#" not in path
            with contextlib.suppress(ValueError):
                parse_build_arn(text)
    except (MalformedEvent, InvalidProperties):
        return
    except Exception as exc:
        if _known(exc):
            return
        raise


def main() -> None:
    atheris: Any = importlib.import_module("atheris")  # only here: make test never loads it
    atheris.instrument_all()
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
