"""The lifecycle policies spare exactly the AMIs the reconciler protects (issues 14 and 20).

A ``TagMap`` matches key and value exactly and holds one value per key. The
reconciler sets its deployment's protection key to one constant value on every
AMI any of its presets needs (:mod:`amistate.core.in_use`); the construct names the
deployment (``AMISTATE_DEPLOYMENT``: the stack's name) and builds the exclusion
from the same keys, so the two cannot disagree, however many presets share a
pipeline and whatever other deployments tag in the account.
"""

from __future__ import annotations

from typing import Any

import pytest
from attrs import evolve

from amistate.core import settings as settings_module
from amistate.core.amis import Amis
from amistate.core.in_use import KEY_MAX, InUseKeys
from amistate.core.state import Pin
from amistate.usecases.reconcile.plan import Tag, plan
from examples.cdk.amistate_cdk.functions import RECONCILE_HANDLER
from examples.cdk.amistate_cdk.presets import in_use_exclusion
from tests.cdk.synth import REGION, STACKS, Synthesized, resources_of_type
from tests.core.test_reconcile_plan import record_after, summary, value, world
from tests.core.world import PRESET, ami_for, build_arn
from tests.core.world import REGION as WORLD_REGION


def _exclusions(synthesized: Synthesized, stack: str) -> dict[str, dict[str, str]]:
    template = synthesized.templates[stack]
    return {
        r["Properties"]["Tags"]["amistate:preset"]: r["Properties"]["PolicyDetails"][0][
            "ExclusionRules"
        ]["Amis"]["TagMap"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ImageBuilder::LifecyclePolicy"
    }


def _reconciler_environment(synthesized: Synthesized, stack: str) -> dict[str, Any]:
    functions = resources_of_type(synthesized.templates[stack], "AWS::Lambda::Function")
    (function,) = [f for f in functions.values() if f["Properties"]["Handler"] == RECONCILE_HANDLER]
    variables: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
    return variables


@pytest.mark.parametrize("stack", STACKS)
def test_the_reconciler_of_the_stack_writes_the_tag_its_policies_spare(
    synthesized: Synthesized, stack: str
) -> None:
    """The function's own settings (its environment, the table a token) name the keys;
    through the planner, two presets on one pipeline needing different AMIs (one is
    pinned): every AMI either needs carries the one excluded tag."""
    environment = {**_reconciler_environment(synthesized, stack), "AWS_REGION": REGION}
    environment["AMISTATE_TABLE"] = "a-table-the-stack-names-at-deploy"
    keys = settings_module.load(environment).in_use_keys()
    exclusion = in_use_exclusion(keys)
    assert exclusion == in_use_exclusion(synthesized.stacks[stack].amistate.in_use)

    other = "linux-x64-large"
    mine = record_after(*(summary(n) for n in range(1, 6)))
    theirs = evolve(
        mine, preset=other, pin=Pin(build_arn(1), Amis.of({WORLD_REGION: ami_for(1)}, WORLD_REGION))
    )
    shared = evolve(world(mine, (), value(ami_for(5))), records={PRESET: mine, other: theirs})
    tags = [i for i in plan(evolve(shared, keys=keys)).instructions if isinstance(i, Tag)]
    assert {ami for tag in tags for ami in tag.ami_ids} == {ami_for(n) for n in (1, 3, 4, 5)}
    assert {tag.value for tag in tags} == {other, f"{PRESET},{other}"}
    assert all(exclusion.items() <= tag.tags.items() for tag in tags)


@pytest.mark.parametrize("stack", STACKS)
def test_each_policy_spares_its_stacks_key_whatever_its_preset(
    synthesized: Synthesized, stack: str
) -> None:
    exclusions = _exclusions(synthesized, stack)
    assert set(exclusions) == {p.name for p in synthesized.settings[stack].presets}
    for tag_map in exclusions.values():
        assert tag_map == {f"amistate:in-use:{stack}": "true"}


def test_two_stacks_in_one_account_spare_different_keys(synthesized: Synthesized) -> None:
    example, full = (_exclusions(synthesized, s) for s in STACKS)
    assert not set(next(iter(example.values()))) & set(next(iter(full.values())))


def test_a_long_stack_name_is_shortened_as_the_reconciler_shortens_it() -> None:
    name = "Runners-" + "x" * 200
    (key,) = in_use_exclusion(InUseKeys.of(name))
    ours = settings_module.Settings(home_region=REGION, deployment=name).in_use_keys()
    assert key == ours.protect
    assert len(ours.presets) <= KEY_MAX
    assert key != in_use_exclusion(InUseKeys.of(name + "y")).popitem()[0]
