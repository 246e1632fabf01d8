"""What a reconcile run reads of each place: its parameters, AMI states and in-use tags.

Our regions first, then every target account a preset in scope lists, each
through its role (:class:`amistate.ports.Accounts`: one ``AssumeRole`` per
account and warm process), read alike: ``GetParameters`` ten names a call
(the presets listing that account; their plain AMI parameters too, only when
one names one), ``DescribeImages`` of the copies there
by the hundred, and one listing of the AMIs carrying this deployment's in-use
tags. An account is read whole or not at all: one whose role is denied
(:class:`~amistate.errors.AccountUnreachable`) is ``unreachable``, one failing
for another (transient) reason is ``failed``; both are left out of the plan,
and the other accounts carry on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from attrs import field, frozen

from amistate.core.amis import Place
from amistate.core.in_use import InUseKeys
from amistate.core.state import AmiState
from amistate.errors import AccountUnreachable
from amistate.ports import Parameter
from amistate.ports.inventory import BuildSummary, ImageState, MachineImages
from amistate.usecases import ami_parameter
from amistate.usecases.converge import Converger


@frozen
class Sight:
    """What a run read of its places (``reads``: the parameters as read, versions and all)."""

    reads: dict[tuple[Place, str], Parameter | None] = field(factory=dict)
    ami_parameters: dict[tuple[Place, str], Parameter | None] = field(factory=dict)
    images: dict[tuple[Place, str], ImageState] = field(factory=dict)
    tags: dict[Place, Mapping[str, Mapping[str, str]]] = field(factory=dict)
    accounts: list[str] = field(factory=list)  # the target accounts read
    unreachable: dict[str, str] = field(factory=dict)  # account -> why (denied)
    failed: dict[str, str] = field(factory=dict)  # "account <id>" -> why (transient)


def read_places(
    converger: Converger,
    machines: Mapping[str, MachineImages],
    keys: InUseKeys,
    records: Mapping[str, AmiState],
    builds: Mapping[str, tuple[BuildSummary, ...]],
) -> Sight:
    """Every place's parameters of ``records``, its AMIs' states, its in-use tags."""
    regions = converger.settings.regions
    accounts = sorted({a for record in records.values() for a in record.target_accounts})
    places = [Place(r, a) for a in (None, *accounts) for r in regions]
    amis = amis_of_interest(records.values(), builds, places)
    sight = Sight(reads=converger.read_parameters(sorted(records)))
    sight.ami_parameters.update(ami_parameter.read(converger.parameters, records.values()))
    for region in regions:
        _look(sight, machines[region], Place(region), amis, keys)
    for account in accounts:
        listing = [p for p in sorted(records) if account in records[p].target_accounts]
        there = Sight()
        try:
            there.reads.update(converger.read_parameters(listing, account))
            stores = {r: converger.store(Place(r, account)) for r in regions}
            named = [records[p] for p in listing]
            there.ami_parameters.update(ami_parameter.read(stores, named, account))
            for region in regions:
                machine = _machines(converger, account, region)
                _look(there, machine, Place(region, account), amis, keys)
        except AccountUnreachable as exc:
            sight.unreachable[account] = str(exc)
            continue
        except Exception as exc:
            sight.failed[f"account {account}"] = f"{type(exc).__name__}: {exc}"
            continue
        sight.reads.update(there.reads)
        sight.ami_parameters.update(there.ami_parameters)
        sight.images.update(there.images)
        sight.tags.update(there.tags)
        sight.accounts.append(account)
    return sight


def _machines(converger: Converger, account: str, region: str) -> MachineImages:
    if converger.accounts is None:
        raise AccountUnreachable(account, "(none)", "this runtime reaches no account")
    found: MachineImages = converger.accounts.machines(account, region)
    return found


def _look(
    sight: Sight,
    machine: MachineImages,
    place: Place,
    amis: Mapping[Place, set[str]],
    keys: InUseKeys,
) -> None:
    sight.images.update({(place, a): s for a, s in machine.states(amis[place]).items()})
    sight.tags[place] = machine.tagged(keys.read)


def amis_of_interest(
    records: Iterable[AmiState],
    builds: Mapping[str, tuple[BuildSummary, ...]],
    places: Iterable[Place],
) -> dict[Place, set[str]]:
    """Every AMI whose state a plan may look at, by place (a target account's: the
    copies of the presets that list it)."""
    amis: dict[Place, set[str]] = {place: set() for place in places}

    def add(place: Place, ami: str | None) -> None:
        if ami is not None and place in amis:
            amis[place].add(ami)

    for record in records:
        for account in (None, *record.target_accounts):
            for place in (p for p in amis if p.account == account):
                region = place.region
                add(place, record.ami_for(region, account=account))
                add(place, record.latest_ami_for(region, account=account))
                for entry in record.history.values():
                    add(place, entry.amis.at(region, account) if entry.good else None)
                if record.waiting is not None:  # kept in the history, but not read as "missing"
                    add(place, record.waiting.amis.at(region, account))
    for summaries in builds.values():
        for summary in summaries:
            for place, ami in summary.amis.places.items():
                add(place, ami)
    return amis


__all__ = ["Sight", "amis_of_interest", "read_places"]
