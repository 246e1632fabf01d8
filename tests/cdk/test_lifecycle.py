"""The lifecycle policies spare exactly the tag values the reconciler writes (issue 14 point 4).

A ``TagMap`` matches key and value exactly and holds one value per key; the
value comes from the reconciler's own :func:`amistate.reconcile.plan.tag_value`
(the construct imports it), so the two cannot disagree.
"""

from __future__ import annotations

import pytest

from amistate.inventory import IN_USE_TAG as RECONCILER_TAG
from amistate.reconcile.plan import Tag, plan, tag_value
from examples.cdk.amistate_cdk.construct import IN_USE_TAG, in_use_exclusion
from tests.cdk.synth import STACKS, Synthesized
from tests.core.test_reconcile_plan import record_after, summary, value, world
from tests.core.world import PRESET, ami_for


def _exclusions(synthesized: Synthesized, stack: str) -> dict[str, dict[str, str]]:
    template = synthesized.templates[stack]
    return {
        r["Properties"]["Tags"]["amistate:preset"]: r["Properties"]["PolicyDetails"][0][
            "ExclusionRules"
        ]["Amis"]["TagMap"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ImageBuilder::LifecyclePolicy"
    }


def test_the_excluded_tag_is_the_one_the_reconciler_writes_on_the_amis_in_use() -> None:
    """Through the planner: the Tag instruction on a preset's AMIs is what the policy spares."""
    builds = [summary(n) for n in range(1, 6)]
    found = plan(world(record_after(*builds), (), value(ami_for(5))))
    (tag,) = [i for i in found.instructions if isinstance(i, Tag)]
    assert IN_USE_TAG == RECONCILER_TAG
    assert in_use_exclusion([PRESET]) == {RECONCILER_TAG: tag.value}


@pytest.mark.parametrize("stack", STACKS)
def test_each_policy_spares_its_presets_tag_value(synthesized: Synthesized, stack: str) -> None:
    exclusions = _exclusions(synthesized, stack)
    assert set(exclusions) == {p.name for p in synthesized.settings[stack].presets}
    for preset, tag_map in exclusions.items():
        assert tag_map == {IN_USE_TAG: tag_value([preset])}


def test_a_long_preset_name_is_excluded_as_the_reconciler_writes_it() -> None:
    assert in_use_exclusion(["a" * 128]) == {IN_USE_TAG: tag_value(["a" * 128])}


@pytest.mark.parametrize("presets", [["a", "b"], ["linux-x64", "linux-x64-large", "other"]])
def test_a_pipeline_shared_by_several_presets_is_refused_with_the_reason(
    presets: list[str],
) -> None:
    """A shared AMI's value (``a,b``) would need a second value for the same key: refused."""
    with pytest.raises(ValueError, match="one value per tag key") as caught:
        in_use_exclusion(presets)
    message = str(caught.value)
    assert f"shared by {len(set(presets))} presets" in message
    assert f"any of {2 ** len(set(presets)) - 1} values" in message
    assert "give each preset its own pipeline, or turn imageLifecycle off" in message
