"""cfn-lint finds no error in the synthesized templates."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint

from tests.cdk.synth import REGION, STACKS, TARGET_STACKS, Synthesized

#: Warnings the CDK itself writes into every template, so not ours to fix:
#: W3005 "obsolete DependsOn": a Lambda function depends on its role (already a
#: GetAtt) and on the role's default policy; the CDK always writes both.
KNOWN_WARNINGS = {"W3005"}


@pytest.mark.parametrize("stack", [*STACKS, *TARGET_STACKS])
def test_cfn_lint_reports_no_errors(synthesized: Synthesized, stack: str) -> None:
    matches = lint(
        json.dumps(synthesized.templates[stack]),
        config=ManualArgs(regions=[REGION, "us-east-1"]),
    )
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    assert errors == []
    unexpected = [str(m) for m in matches if m.rule.id not in KNOWN_WARNINGS]
    assert unexpected == []
