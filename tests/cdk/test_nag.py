"""cdk-nag's AwsSolutions pack has no unacknowledged finding.

Each acknowledgment lives next to the construct it concerns in
``examples/cdk/amistate_cdk/``, with its reason, through CDK's
``Validations.of(scope).acknowledge(...)`` (cdk-nag v3 reads those; v2's
``NagSuppressions`` no longer exists).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Validations

from tests.cdk.synth import Synthesized


def test_aws_solutions_checks_have_no_unacknowledged_findings(synthesized: Synthesized) -> None:
    assert synthesized.nag_violations == []


def test_every_acknowledgment_gives_a_reason(synthesized: Synthesized) -> None:
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    acknowledged: dict[str, str] = {}
    for node in synthesized.app.node.find_all():
        for entry in node.node.metadata:
            if entry.type == key:
                data: dict[str, Any] = dict(entry.data)
                for rule, reason in data.items():
                    acknowledged[f"{node.node.path}: {rule}"] = str(reason)
    assert acknowledged, "expected the documented acknowledgments"
    for where, reason in acknowledged.items():
        assert "AwsSolutions-" in where, where
        assert len(reason) >= 60, f"give a real reason: {where}: {reason!r}"


def test_synthesis_reports_no_warning_or_error(synthesized: Synthesized) -> None:
    """CDK annotations (deprecations, validation) read from the one synthesis, not a new one."""
    messages = [
        f"{name} {m.level} {m.id}: {m.entry.data}"
        for name in synthesized.templates
        for m in synthesized.assembly.get_stack_by_name(name).messages
        if str(m.level).lower().split(".")[-1] in ("warning", "error")
    ]
    assert messages == []
