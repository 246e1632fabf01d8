"""One vocabulary: each reconcile instruction renders the same fields in the reconcile
Lambda's log line and in ``amistate reconcile --json``, and its text row starts with its
action (issue 23, point 1).

Parametrized over every class of :data:`amistate.usecases.reconcile.plan.Instruction`: a new
instruction without a sample here, or without a rendering, fails.
"""

from __future__ import annotations

import json
import logging
import re
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from amistate.cli.reconcile import report_json, report_text
from amistate.core.amis import Amis, Place
from amistate.core.builds import TrimBasis
from amistate.core.in_use import InUseKeys
from amistate.core.state import BuildRecord, Candidate
from amistate.ports.inventory import BuildSummary
from amistate.shims import logs
from amistate.shims.reconcile import log_instruction
from amistate.usecases.reconcile.plan import (
    Converge,
    FallBack,
    Feed,
    Instruction,
    Plan,
    Problem,
    Promote,
    Trim,
    Unreachable,
    Withdraw,
)
from amistate.usecases.reconcile.run import Report, owner
from amistate.usecases.reconcile.tags import Tag, Untag
from amistate.usecases.reconcile.vocabulary import COUNTS, render

BUILD = "arn:aws:imagebuilder:us-west-2:123456789012:image/spot-runner-linux-x64/1.0.0/4"
OLDER = "arn:aws:imagebuilder:us-west-2:123456789012:image/spot-runner-linux-x64/1.0.0/2"
WHEN = datetime(2024, 6, 4, 6, tzinfo=UTC)
KEYS = InUseKeys.of("us-west-2/spot-runner")
NEW_AMI = "ami-0f0f0f0f0f0f0f0f0"
OLD_AMI = "ami-0a04d20bd181fd438"

SAMPLES: dict[type, Instruction] = {
    Feed: Feed(
        "linux-x64",
        "arn:aws:imagebuilder:us-west-2:123456789012:image-pipeline/spot-runner-linux-x64",
        BuildSummary(BUILD, "AVAILABLE", WHEN, Amis.of({"us-west-2": "ami-0f0f0f0f0f0f0f0f0"})),
    ),
    FallBack: FallBack(
        "linux-x64",
        "ami-0b5036c60f15654e5",
        "deregistered",
        BuildRecord(
            OLDER,
            "ready",
            "k",
            WHEN,
            Amis.of({"us-west-2": "ami-0a04d20bd181fd438"}, "us-west-2"),
        ),
    ),
    Promote: Promote(
        "linux-x64", Candidate(BUILD, "k5", WHEN, Amis.of({"us-west-2": NEW_AMI}, "us-west-2"))
    ),
    Withdraw: Withdraw(
        "linux-x64",
        Candidate(BUILD, "k5", WHEN, Amis.of({"us-west-2": NEW_AMI}, "us-west-2")),
        NEW_AMI,
        "deregistered",
        Place("us-west-2"),
    ),
    Converge: Converge("windows", ("us-west-2",), ("timeout",)),
    Trim: Trim("linux-x64", ("k1", "k2"), TrimBasis("k9")),
    Tag: Tag("us-west-2", (NEW_AMI,), "linux-x64", KEYS),
    Untag: Untag("us-west-2", ("ami-094caedd0f25af01c",), KEYS.owned),
    Problem: Problem("macos", "pinned AMI ami-0d0d0d0d0d0d0d0d0 is missing in us-west-2"),
    Unreachable: Unreachable(
        "444455556666",
        "account 444455556666: access denied through role "
        "arn:aws:iam::444455556666:role/amistate-target (AssumeRole: AccessDenied)",
    ),
}
NOTHING_DONE = (Problem, Unreachable)


def _report(instruction: Instruction, done: bool, failed: str | None = None) -> Report:
    return Report(
        Plan((instruction,)),
        dry_run=False,
        presets=1,
        done=(instruction,) if done else (),
        failed={owner(instruction): failed} if failed else {},
    )


def _logged(
    instruction: Instruction, report: Report, caplog: pytest.LogCaptureFixture
) -> dict[str, Any]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=logs.LOGGER_NAME):
        log_instruction(instruction, report, {"service": "amistate"})
    (record,) = caplog.records
    line: dict[str, Any] = json.loads(record.getMessage())
    assert line.pop("service") == "amistate"
    return line


@pytest.mark.parametrize("kind", typing.get_args(Instruction), ids=lambda k: k.__name__)
@pytest.mark.parametrize("done", [True, False], ids=["done", "failed"])
def test_the_log_line_and_the_json_render_the_same_fields(
    kind: type, done: bool, caplog: pytest.LogCaptureFixture
) -> None:
    instruction = SAMPLES[kind]
    report = _report(instruction, done, failed=None if done else "ThrottlingException: slow")
    logged = _logged(instruction, report, caplog)
    (printed,) = report_json(report)["instructions"]
    assert logged == printed
    rendering = render(instruction)
    assert {k: logged[k] for k in rendering.fields} == json.loads(json.dumps(rendering.fields))
    assert logged["action"] == rendering.action
    assert logged.get("preset", logged.get("region", logged.get("account"))) == rendering.subject
    if kind not in NOTHING_DONE:
        assert (logged["done"], logged["failed"]) == (
            (True, None) if done else (False, "ThrottlingException: slow")
        )


@pytest.mark.parametrize("kind", typing.get_args(Instruction), ids=lambda k: k.__name__)
def test_the_text_row_and_the_counts_use_the_same_action(kind: type) -> None:
    instruction = SAMPLES[kind]
    report = _report(instruction, done=True)
    rendering = render(instruction)
    row = report_text(report).splitlines()[1]
    assert row.split()[:2] == [rendering.action, rendering.subject]
    assert row.rstrip().endswith(rendering.detail)
    counted = {name: n for name, n in report.counts().items() if n}
    assert counted == ({} if kind in NOTHING_DONE else {COUNTS[rendering.action]: 1})


def test_a_target_accounts_instructions_name_the_account() -> None:
    """Ours render as before (no ``account``); a target account's say which, in the
    fields and in the text (``<account>/<region>``, as ``status`` shows a place)."""
    theirs = Converge("windows", ("us-west-2", "eu-west-1"), ("amiId",), "444455556666")
    rendering = render(theirs)
    assert rendering.fields["account"] == "444455556666"
    assert rendering.detail == "444455556666/us-west-2, 444455556666/eu-west-1: amiId"
    assert "account" not in render(SAMPLES[Converge]).fields
    tag = render(Tag("us-west-2", (NEW_AMI,), "linux-x64", KEYS, "444455556666"))
    assert (tag.subject, tag.fields["region"], tag.fields["account"]) == (
        "444455556666/us-west-2",
        "us-west-2",
        "444455556666",
    )
    assert owner(Untag("us-west-2", (NEW_AMI,), KEYS.owned, "444455556666")) == (
        "tags in 444455556666/us-west-2"
    )
    assert "account" not in render(SAMPLES[Tag]).fields


def test_an_instruction_without_a_rendering_is_refused() -> None:
    with pytest.raises(TypeError, match="no rendering for the instruction str"):
        render("feed")  # type: ignore[arg-type]


DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_docs_name_every_action_and_its_count() -> None:
    """docs/cli.md's vocabulary table has a row per action with its count, and
    docs/operations.md's list of the log's actions names them all (a new instruction
    without its docs fails here)."""
    actions = {render(sample).action: render(sample).count for sample in SAMPLES.values()}
    table = (DOCS / "cli.md").read_text().split("### The reconcile vocabulary", 1)[1]
    rows = re.findall(r"^\| `([a-z-]+)` \| .* \| (`[a-z]+`|not counted) \|$", table, re.M)
    documented = {
        action: None if count == "not counted" else count.strip("`") for action, count in rows
    }
    assert documented == actions
    listed = (DOCS / "operations.md").read_text().split("`action` is one of", 1)[1]
    named = set(re.findall(r"`([a-z-]+)`", listed.split(";", 1)[0]))
    assert named >= set(actions)
