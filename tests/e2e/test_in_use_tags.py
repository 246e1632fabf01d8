"""End to end: each deployment's in-use tags are its own, and a run touches only its presets'.

The world of ``test_reconcile`` (moto's server for DynamoDB, SSM and EC2, the
Image Builder stand-in), driven through the public entry points: the custom
resource deploys and deletes presets, the event Lambda takes the events that
were sent, the reconcile Lambda runs on its schedule, and ``amistate`` (the CLI,
in-process) pins, unpins and reconciles some presets. A second deployment is a
second table in the same account and region (``AMISTATE_TABLE`` switched).

What a lifecycle policy sees is read straight from EC2: every tag of ours whose
key starts with ``amistate:in-use``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from amistate.cli.main import main
from amistate.core.in_use import LEGACY_KEY, PREFIX, PROTECTED, InUseKeys, table_deployment
from amistate.shims import runtime
from tests.e2e.test_reconcile import OTHER, World, world
from tests.servers import create_table, unique_table_name
from tests.shims.conftest import PIPELINE
from tests.shims.fakes import REGION

__all__ = ["world"]  # the fixture

ARM_PIPELINE = PIPELINE.replace("linux-x64", "linux-arm64")


def keys_of(table: str) -> InUseKeys:
    """The keys a deployment whose table is ``table`` writes (no AMISTATE_DEPLOYMENT set)."""
    return InUseKeys.of(table_deployment(table, REGION))


def ours(keys: InUseKeys, presets: str) -> dict[str, str]:
    return {keys.protect: PROTECTED, keys.presets: presets}


def in_use_tags(world: World) -> dict[str, dict[str, str]]:
    """AMI -> its tags whose key starts with ``amistate:in-use``, for every AMI of ours."""
    found: dict[str, dict[str, str]] = {}
    for image in world.ec2.describe_images(Owners=["self"])["Images"]:
        tags = {t["Key"]: t["Value"] for t in image.get("Tags", [])}
        found[image["ImageId"]] = {k: v for k, v in tags.items() if k.startswith(PREFIX)}
    return found


def cli(world: World, *args: str) -> dict[str, Any]:
    """``amistate ARGS --json`` in-process, in the Lambda's environment; exit 0 expected."""
    runtime.reset()
    world.capsys.readouterr()
    code = main([*args, "--json"])
    out, err = world.capsys.readouterr()
    runtime.reset()
    assert code == 0, (out, err)
    loaded: dict[str, Any] = json.loads(out)
    return loaded


def switch_to(world: World, monkeypatch: pytest.MonkeyPatch, table: str, staging: bool) -> None:
    """The Lambdas and the CLI now act for the deployment whose table is ``table`` (its
    parameters under a prefix of its own, unless it is the world's first, staging)."""
    monkeypatch.setenv("AMISTATE_TABLE", table)
    if staging:
        monkeypatch.delenv("AMISTATE_PARAMETER_PREFIX", raising=False)
    else:
        monkeypatch.setenv("AMISTATE_PARAMETER_PREFIX", "/spot-runner-prod/configs")
    world.aws.table = table
    runtime.reset()


# --- reconcile PRESET ------------------------------------------------------------------------


def test_reconcile_of_one_preset_leaves_another_presets_amis_as_they_were(world: World) -> None:
    world.aws.images.pipelines.add(ARM_PIPELINE)
    world.aws.deploy(preset=OTHER, pipeline=ARM_PIPELINE, start_build="false")
    mine = [world.build(hour) for hour in (0, 1)]
    theirs = [world.build(hour + 0.5, pipeline=ARM_PIPELINE) for hour in (0, 1)]
    world.deliver()
    world.reconcile()
    before = in_use_tags(world)
    assert all(before[world.amis[b]] for b in [*mine, *theirs])
    newest = world.build(2)
    world.deliver()

    done = cli(world, "reconcile", "linux-x64")

    assert done["failed"] == {}
    after = in_use_tags(world)
    assert {world.amis[b]: after[world.amis[b]] for b in theirs} == {
        world.amis[b]: before[world.amis[b]] for b in theirs
    }
    keys = keys_of(world.aws.table)
    assert after[world.amis[newest]] == ours(keys, "linux-x64")
    assert all(after[world.amis[b]] == ours(keys, "linux-x64") for b in mine)


def test_reconcile_of_one_preset_keeps_a_sibling_on_its_pipeline_protected(world: World) -> None:
    """Two presets, one pipeline: the sibling is pinned to an old build. ``reconcile
    linux-x64`` keeps the sibling's name on the AMIs they share and never releases
    the pinned AMI only the sibling needs."""
    world.aws.deploy(preset=OTHER, start_build="false")
    builds = [world.build(hour) for hour in range(5)]
    world.deliver()
    cli(world, "pin", OTHER, world.amis[builds[0]])
    world.reconcile()
    keys = keys_of(world.aws.table)
    both = f"linux-x64,{OTHER}"
    assert in_use_tags(world)[world.amis[builds[0]]]
    newest = world.build(6)
    world.deliver()  # both presets move to build 7's AMI (OTHER stays pinned)

    cli(world, "reconcile", "linux-x64")

    tags = in_use_tags(world)
    assert tags[world.amis[builds[0]]] == ours(keys, OTHER)  # the pin: OTHER's alone
    assert tags[world.amis[newest]] == ours(keys, "linux-x64")  # OTHER not reconciled yet
    assert tags[world.amis[builds[4]]] == ours(keys, both)
    assert tags[world.amis[builds[3]]] == ours(keys, both)
    assert tags[world.amis[builds[2]]] == ours(keys, OTHER)  # linux-x64 needs it no more
    cli(world, "reconcile", OTHER)
    tags = in_use_tags(world)
    assert tags[world.amis[newest]] == ours(keys, both)
    assert tags[world.amis[builds[2]]] == {}
    assert cli(world, "reconcile", "--dry-run")["instructions"] == []


# --- two deployments in one account and region -----------------------------------------------


def test_two_deployments_in_one_account_never_touch_each_others_tags(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staging (the world's table) and prod (a second table): prod's linux-x64 shares
    staging's pipeline, its linux-arm64 has a pipeline of its own. Prod's events are
    all lost: its reconcile runs feed them."""
    staging, prod = world.aws.table, unique_table_name()
    create_table(world.aws.ddb, prod)
    world.aws.images.pipelines.add(ARM_PIPELINE)
    shared = [world.build(hour) for hour in (0, 1, 2, 3)]
    world.deliver()
    world.reconcile()
    switch_to(world, monkeypatch, prod, staging=False)
    world.aws.deploy(start_build="false")
    world.aws.deploy(preset=OTHER, pipeline=ARM_PIPELINE, start_build="false")
    arm = world.build(0.5, pipeline=ARM_PIPELINE, deliver=False)
    world.reconcile()
    arm_tags = in_use_tags(world)[world.amis[arm]]
    assert arm_tags
    switch_to(world, monkeypatch, staging, staging=True)
    assert world.reconcile()["failed"] == {}
    assert in_use_tags(world)[world.amis[arm]] == arm_tags  # staging left prod's AMI alone

    # Each deployment's exclusion (its protection key, exactly "true") spares its AMIs.
    staging_keys, prod_keys = keys_of(staging), keys_of(prod)
    assert staging_keys.owned != prod_keys.owned
    tags = in_use_tags(world)
    for build in shared[1:]:
        assert tags[world.amis[build]] == {
            **ours(staging_keys, "linux-x64"),
            **ours(prod_keys, "linux-x64"),
        }
    assert tags[world.amis[arm]] == ours(prod_keys, OTHER)

    def owned(keys: InUseKeys) -> dict[str, dict[str, str]]:
        tags = in_use_tags(world)
        return {ami: {k: v for k, v in t.items() if k in keys.owned} for ami, t in tags.items()}

    # A new build of the shared pipeline; each deployment's runs, in turn.
    newest = world.build(4, deliver=False)
    turns = ((staging, staging_keys, prod_keys), (prod, prod_keys, staging_keys))
    for table, keys, other in turns:
        switch_to(world, monkeypatch, table, staging=table == staging)
        theirs = owned(other)
        assert world.reconcile()["failed"] == {}
        assert owned(other) == theirs
        assert in_use_tags(world)[world.amis[newest]][keys.protect] == PROTECTED
        assert keys.protect not in in_use_tags(world)[world.amis[shared[1]]]  # now 4th newest

    for table in (staging, prod):
        switch_to(world, monkeypatch, table, staging=table == staging)
        again = world.reconcile()
        assert again["counts"] == dict.fromkeys(again["counts"], 0)


# --- a deleted preset -------------------------------------------------------------------------


def test_deleting_a_preset_releases_the_amis_only_it_needed_and_keeps_the_shared_ones(
    world: World,
) -> None:
    world.aws.deploy(preset=OTHER, start_build="false")
    builds = [world.build(hour) for hour in range(5)]
    world.deliver()
    cli(world, "pin", OTHER, world.amis[builds[0]])  # only OTHER needs build 1's AMI
    world.reconcile()
    keys = keys_of(world.aws.table)
    assert in_use_tags(world)[world.amis[builds[0]]]

    old = {"PresetName": OTHER, "PipelineArn": PIPELINE, "Config": "{}"}
    answer = world.aws.send(world.aws.resource_event("Delete", preset=OTHER, old=old))
    assert answer.body["Status"] == "SUCCESS", answer.body
    summary = world.reconcile()

    assert summary["failed"] == {}
    tags = in_use_tags(world)
    assert tags[world.amis[builds[0]]] == {}
    for build in builds[2:]:
        assert tags[world.amis[build]] == ours(keys, "linux-x64")
    assert world.ami_in_ssm(OTHER) == world.amis[builds[0]]  # the parameter is kept


# --- the pin keeps the newest good AMI ---------------------------------------------------------


def test_while_pinned_the_newest_good_ami_survives_the_lifecycle_so_unpin_lands_on_it(
    world: World,
) -> None:
    builds = [world.build(hour) for hour in range(5)]
    world.deliver()
    cli(world, "pin", "linux-x64", world.amis[builds[0]])
    world.reconcile()
    # A lifecycle policy deletes every AMI its exclusion (the protection key) does not spare.
    keys = keys_of(world.aws.table)
    for build in builds:
        if keys.protect not in in_use_tags(world)[world.amis[build]]:
            world.deregister(build)

    unpinned = cli(world, "unpin", "linux-x64")

    assert unpinned["amiId"] == world.amis[builds[4]]
    assert world.ami_in_ssm() == world.amis[builds[4]]
    summary = world.reconcile()
    assert (summary["counts"]["fallbacks"], summary["problems"]) == (0, [])


# --- upgrading from the shared key -------------------------------------------------------------


def test_the_legacy_key_leaves_only_the_amis_this_deployment_protects_under_its_own(
    world: World,
) -> None:
    builds = [world.build(hour) for hour in range(4)]
    world.deliver()
    legacy = [{"Key": LEGACY_KEY, "Value": "linux-x64"}]
    world.ec2.create_tags(Resources=[world.amis[b] for b in builds], Tags=legacy)

    world.reconcile()

    keys = keys_of(world.aws.table)
    tags = in_use_tags(world)
    for build in builds[1:]:
        assert tags[world.amis[build]] == ours(keys, "linux-x64")
    # Needed by none of this deployment's presets: maybe another's, so left alone.
    assert tags[world.amis[builds[0]]] == {LEGACY_KEY: "linux-x64"}
