"""``amistate.core.amis``: one value for where a build's AMIs live, keyed by (account, region)."""

from __future__ import annotations

from attrs import evolve

from amistate.core.amis import NO_AMIS, Amis, Place, amis_of
from amistate.core.state import AmiState, Pin

OURS, TARGET, OTHER = "111122223333", "444455556666", "777788889999"


def test_entries_are_keyed_by_account_and_region_ours_without_an_account() -> None:
    amis = amis_of(
        [
            {"region": "us-west-2", "image": "ami-1"},  # no accountId: ours
            {"region": "eu-west-1", "image": "ami-2", "accountId": OURS},
            {"region": "us-west-2", "image": "ami-3", "accountId": TARGET},
            {"region": "us-west-2", "image": "ami-4", "accountId": OURS},  # the first one wins
            {"region": "us-west-2", "accountId": TARGET},  # no image: skipped
            "not an entry",
        ],
        OURS,
    )
    assert amis.places == {
        Place("us-west-2"): "ami-1",
        Place("eu-west-1"): "ami-2",
        Place("us-west-2", TARGET): "ami-3",
    }
    assert amis.home is None  # no rule chose a home yet
    assert amis.regional() == {"us-west-2": "ami-1", "eu-west-1": "ami-2"}
    assert amis.copies() == {TARGET: {"us-west-2": "ami-3"}}


def test_kept_keeps_our_regions_in_every_account() -> None:
    amis = Amis.of(
        {"us-west-2": "ami-1", "ap-south-1": "ami-9"},
        copies={TARGET: {"us-west-2": "ami-3", "ap-south-1": "ami-8"}},
    )
    kept = amis.kept(("us-west-2",)).with_home("us-west-2")
    assert kept == Amis("ami-1", {Place("us-west-2"): "ami-1", Place("us-west-2", TARGET): "ami-3"})
    assert kept.ids == {"ami-1", "ami-3"}


def test_a_copy_in_an_account_the_preset_does_not_list_is_never_used() -> None:
    amis = Amis.of({"us-west-2": "ami-1"}, "us-west-2", {TARGET: {"us-west-2": "ami-3"}})
    amis = Amis(amis.home, {**amis.places, Place("us-west-2", OTHER): "ami-7"})
    record = AmiState(preset="p", amis=amis, target_accounts=(TARGET,))
    assert record.ami_for("us-west-2") == "ami-1"
    assert record.ami_for("us-west-2", account=TARGET) == "ami-3"
    assert record.ami_for("us-west-2", account=OTHER) is None
    assert record.latest_ami_for("us-west-2", account=OTHER) is None
    pinned = evolve(record, pin=Pin("b", amis), target_accounts=())
    assert pinned.ami_for("us-west-2", account=TARGET) is None  # unlisted: pinned or not


def test_the_outputs_render_copies_only_when_there_are_some() -> None:
    assert Amis.of({"us-west-2": "ami-1"}, "us-west-2").document() == {
        "amis": {"us-west-2": "ami-1"}
    }
    both = Amis.of({"us-west-2": "ami-1"}, copies={TARGET: {"us-west-2": "ami-3"}})
    assert both.document() == {
        "amis": {"us-west-2": "ami-1"},
        "copies": {TARGET: {"us-west-2": "ami-3"}},
    }
    assert not NO_AMIS and NO_AMIS.document() == {"amis": {}}
