"""Runners in other accounts (issue 22), on moto's server: the event and reconcile Lambdas
reach each target account through STS ``AssumeRole`` (moto keeps an assumed role's
account apart), and the Image Builder stand-in lists each account's copy with its
``accountId``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from amistate_adapters import clients
from botocore.awsrequest import AWSResponse

from amistate.shims import runtime
from amistate.testing import events
from amistate.testing.world import ACCOUNT, REGION, TABLE, LocalWorld, Servers

TARGET, OTHER, UNLISTED = "444455556666", "777788889999", "999900001111"
CONFIG = {"instanceTypes": ["c7i.large"], "maxRunners": 4}


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    started = Servers()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def world(servers: Servers, caplog: pytest.LogCaptureFixture) -> Iterator[LocalWorld]:
    caplog.set_level(logging.INFO, logger="amistate")
    servers.reset()
    with LocalWorld(servers, REGION, TABLE, ACCOUNT).entered() as found:
        yield found


def missing(world: LocalWorld, preset: str, account: str) -> bool:
    try:
        world.parameter(preset, account)
    except Exception as exc:
        return "ParameterNotFound" in type(exc).__name__ or "ParameterNotFound" in str(exc)
    return False


def decisions(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "amistate"]
    return [line for line in lines if "decision" in line and "buildId" in line]


def test_each_target_account_gets_its_copy_and_keeps_its_own_keys(
    world: LocalWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world.register("linux", CONFIG, target_accounts=[TARGET])
    catalog = runtime.get(world.context).ports.catalog
    catalog.cache_ttl = 3600  # type: ignore[attr-defined]  # one mapping read in this test
    name = f"{world.parameter_prefix}/linux"
    theirs = {"amiId": "ami-0000000000000dead", "team": "payments"}
    world.client("ssm", TARGET).put_parameter(Name=name, Value=json.dumps(theirs), Type="String")
    first = world.build("linux", copy_to=[TARGET, UNLISTED])
    copy = first.image["outputResources"]["amis"][1]
    assert copy["accountId"] == TARGET
    assert world.parameter("linux") == {**CONFIG, "amiId": first.ami_id}
    assert world.parameter("linux", TARGET) == {
        **CONFIG,
        "team": "payments",
        "amiId": copy["image"],
    }
    assert copy["image"] != first.ami_id
    assert missing(world, "linux", UNLISTED)  # its copy exists, but it is not listed
    before = world.parameter("linux", TARGET)
    world.build("linux", "FAILED")
    assert world.parameter("linux", TARGET) == before  # a failure changes no account
    second = world.build("linux")
    assert world.parameter("linux", TARGET)["amiId"] != before["amiId"]
    # Calls per event: ours are 5 (GetImage, UpdateItem, GetParameter, PutParameter, the
    # confirming GetItem; the deploy cached the mapping). The target account adds its
    # GetParameter and PutParameter, and the first event of the process one AssumeRole.
    first_calls, _, later_calls = (line["awsCalls"] for line in decisions(caplog))
    assert (first_calls, later_calls) == (5 + 1 + 2, 5 + 2)
    assert second.ami_id == world.parameter("linux")["amiId"]


def test_status_shows_each_accounts_parameter(
    world: LocalWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world.register("linux", CONFIG, target_accounts=[TARGET])
    built = world.build("linux")
    copy = built.image["outputResources"]["amis"][1]["image"]
    from amistate.cli.main import main

    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    (preset,) = json.loads(capsys.readouterr().out)["presets"]
    shown = [(r.get("account"), r["region"], r["ssmAmiId"], r["drift"]) for r in preset["regions"]]
    assert shown == [(None, REGION, built.ami_id, False), (TARGET, REGION, copy, False)]


def copies_of(build: Any) -> dict[str, str]:
    """A build's copies, by account."""
    return {a["accountId"]: a["image"] for a in build.image["outputResources"]["amis"][1:]}


def test_a_lost_event_is_healed_in_every_account_by_the_reconcile_run(
    world: LocalWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """Then a copy deregistered in one target account (found by DescribeImages there)
    makes the preset fall back: every account moves to the build whole everywhere."""
    world.register("linux", CONFIG, target_accounts=[OTHER, TARGET])
    lost = world.build("linux", deliver=False)
    assert missing(world, "linux", TARGET) and missing(world, "linux", OTHER)
    reconcile_run(world)
    copies = copies_of(lost)
    assert world.parameter("linux")["amiId"] == lost.ami_id
    for account in (OTHER, TARGET):
        assert world.parameter("linux", account) == {**CONFIG, "amiId": copies[account]}
    newer = world.build("linux")
    world.client("ec2", TARGET).deregister_image(ImageId=copies_of(newer)[TARGET])

    assert reconcile_run(world)["counts"]["fallbacks"] == 1

    (fell,) = [json.loads(r.getMessage()) for r in caplog.records if "fall-back" in r.getMessage()]
    assert (fell["vanished"], fell["buildId"]) == (copies_of(newer)[TARGET], lost.arn)
    assert world.parameter("linux")["amiId"] == lost.ami_id
    for account in (OTHER, TARGET):
        assert world.parameter("linux", account)["amiId"] == copies[account]


def deny_role_of(account: str) -> None:
    """STS answers AccessDenied for ``account``'s role, as a missing trust policy does."""

    def answer(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        role = str(params.get("body", {}).get("RoleArn", ""))
        if f"::{account}:" not in role:
            return None
        error = {"Code": "AccessDenied", "Message": f"not authorized to assume {role}"}
        parsed = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}
        return AWSResponse("https://sts", 403, {}, None), parsed  # type: ignore[arg-type]

    sts = clients.client("sts", REGION)  # type: ignore[call-overload]
    sts.meta.events.register("before-call.sts.AssumeRole", answer)


def test_a_denied_role_leaves_the_other_accounts_correct_and_is_reported(
    world: LocalWorld, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    world.register("linux", CONFIG, target_accounts=[OTHER, TARGET])
    deny_role_of(OTHER)
    build = world.build("linux")
    copies = {a["accountId"]: a["image"] for a in build.image["outputResources"]["amis"][1:]}
    assert world.parameter("linux")["amiId"] == build.ami_id
    assert world.parameter("linux", TARGET)["amiId"] == copies[TARGET]
    assert missing(world, "linux", OTHER)
    (line,) = decisions(caplog)
    (why,) = line["accountsBehind"]
    assert why.startswith(f"account {OTHER}: access denied through role ")
    assert f"arn:aws:iam::{OTHER}:role/amistate-target" in why
    from amistate.cli.main import main

    capsys.readouterr()
    for command in (["status", "--json"], ["history", "linux", "--json"]):
        main(command)
        shown = json.loads(capsys.readouterr().out)
        (behind,) = [p["accountsBehind"] for p in shown.get("presets", [shown])]
        assert behind == {OTHER: why}  # the record says which account is behind, and why


def reconcile_run(world: LocalWorld) -> dict[str, Any]:
    """One scheduled run of the reconcile Lambda; its summary."""
    from amistate.shims import reconcile

    rule = f"arn:aws:events:{world.region}:{world.account}:rule/amistate-reconcile"
    summary: dict[str, Any] = reconcile.handler(
        events.scheduled_event(rule, "2024-01-20T00:00:00Z"), world.context
    )
    return summary


def tags_of(world: LocalWorld, account: str | None, ami: str) -> dict[str, str]:
    (image,) = world.client("ec2", account).describe_images(ImageIds=[ami])["Images"]
    return {t["Key"]: t["Value"] for t in image.get("Tags", [])}


def test_the_reconcile_run_repairs_drift_and_tags_copies_in_a_target_account(
    world: LocalWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    """Drift only in the target account's parameter is converged there; the copy in use
    carries this deployment's in-use tags in that account, another deployment's tag
    there survives; a run that changes nothing reads 3 calls more for the account."""
    world.register("linux", CONFIG, target_accounts=[TARGET])
    built = world.build("linux")
    copy = built.image["outputResources"]["amis"][1]["image"]
    theirs = world.client("ssm", TARGET)
    name = f"{world.parameter_prefix}/linux"
    drifted = json.dumps({**CONFIG, "amiId": "ami-0000000000000dead", "team": "payments"})
    theirs.put_parameter(Name=name, Value=drifted, Type="String", Overwrite=True)
    other = "amistate:in-use:eu-west-1/another-table"
    world.client("ec2", TARGET).create_tags(
        Resources=[copy], Tags=[{"Key": other, "Value": "true"}]
    )
    from amistate.cli.main import main

    capsys.readouterr()
    assert main(["reconcile", "--dry-run"]) == 1  # the dry run names the account
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["converge", "linux", f"{TARGET}/{REGION}:", "amiId"] in rows

    summary = reconcile_run(world)

    assert summary["failed"] == {} and summary["counts"]["parameters"] == 1
    assert world.parameter("linux", TARGET) == {**CONFIG, "amiId": copy, "team": "payments"}
    keys = runtime.get(world.context).settings.in_use_keys()
    assert tags_of(world, TARGET, copy) == {
        keys.protect: "true",
        keys.presets: "linux",
        other: "true",
    }
    assert keys.protect in tags_of(world, None, str(built.ami_id))
    again = reconcile_run(world)
    assert again["converged"] is True
    # Ours: Scan, ListImagePipelineImages, GetParameters, DescribeImages, the tagged listing;
    # the account's (its role assumed by the first run): GetParameters, DescribeImages, listing.
    assert again["awsCalls"] == 5 + 3
