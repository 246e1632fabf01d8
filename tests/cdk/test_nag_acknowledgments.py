"""Every acknowledgment is needed: without them, cdk-nag reports exactly those findings.

The construct tree is built a second time with ``nag.acknowledge`` recording
instead of acknowledging, and cdk-nag runs on that tree (no synthesis: the
pack reads the constructs). Each finding must have been acknowledged on its
construct (or the construct owning it, e.g. a role for its default policy),
and each acknowledgment must match a finding: no stale suppression.
"""

from __future__ import annotations

import pytest
from aws_cdk import App, Environment
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

import examples.cdk.amistate_cdk.nag as nag_module
from examples.cdk.amistate_cdk import AmiStateStack
from tests.cdk.synth import ACCOUNT, REGION, STACKS, Synthesized, target_stacks


def test_acknowledgments_match_the_findings_one_to_one(
    synthesized: Synthesized,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    acknowledged: set[tuple[str, str]] = set()

    def record(scope: IConstruct, rule: str, reason: str) -> None:
        assert reason
        acknowledged.add((scope.node.path, rule))

    monkeypatch.setattr(nag_module, "acknowledge", record)
    asset = tmp_path_factory.mktemp("asset")
    (asset / "amistate" / "shims").mkdir(parents=True)
    (asset / "amistate" / "shims" / "lambda_handler.py").write_text("")
    app = App(outdir=str(tmp_path_factory.mktemp("out")))
    env = Environment(account=ACCOUNT, region=REGION)
    for name in STACKS:
        AmiStateStack(app, name, settings=synthesized.settings[name], asset_dir=asset, env=env)
    target_stacks(app, synthesized.settings["Full"])

    findings = {
        (resource.construct_path or "", violation.rule_name)
        for violation in AwsSolutionsChecks().validate_scope(app).violations
        for resource in violation.violating_resources
    }
    assert findings, "without acknowledgments cdk-nag must report the known findings"

    def covered(finding: tuple[str, str]) -> bool:
        path, rule = finding
        return any(
            rule == ack_rule and (path == ack_path or path.startswith(ack_path + "/"))
            for ack_path, ack_rule in acknowledged
        )

    unacknowledged = sorted(f for f in findings if not covered(f))
    stale = sorted(
        (ack_path, ack_rule)
        for ack_path, ack_rule in acknowledged
        if not any(
            rule == ack_rule and (path == ack_path or path.startswith(ack_path + "/"))
            for path, rule in findings
        )
    )
    assert unacknowledged == []
    assert stale == []
