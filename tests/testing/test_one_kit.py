"""The shapes AWS delivers events in are written once, in ``amistate.testing.events``
(issue 23, point 5): no other module of amistate or its tests spells an SQS record, an
SNS record or envelope, or a scheduled event as a dict literal of its own.

Allowed: the converter ``amistate replay`` and the kit share
(``core/parsing/sqs.record_of_message``), and the fuzz harness, which splices fuzz bytes
into a record's timestamp. The bench is another helper's (it migrates to the kit).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: A dict literal's line that opens one of AWS's event envelopes.
ENVELOPE = re.compile(
    r'^\s*"(?:eventSource": "aws:sqs|EventSource": "aws:sns|Type": "Notification'
    r'|detail-type": "Scheduled Event)"',
    re.M,
)
ALLOWED = {
    "src/amistate/testing/events.py",
    "src/amistate/core/parsing/sqs.py",
    "tests/fuzz/fuzz_parsing.py",
}


def envelopes_outside_the_kit(root: Path = ROOT) -> list[str]:
    found = []
    for folder in ("src", "adapters", "tests"):
        for path in sorted((root / folder).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            if name in ALLOWED:
                continue
            for match in ENVELOPE.finditer(path.read_text(encoding="utf-8")):
                line = path.read_text(encoding="utf-8")[: match.start()].count("\n") + 1
                found.append(f"{name}:{line}")
    return found


def test_no_event_envelope_is_built_outside_the_kit() -> None:
    assert envelopes_outside_the_kit() == []


def test_the_check_finds_a_copy(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text('R = {\n    "eventSource": "aws:sqs",\n}\n')
    assert envelopes_outside_the_kit(tmp_path) == ["tests/test_x.py:2"]
