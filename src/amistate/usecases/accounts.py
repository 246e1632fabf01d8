"""Target accounts in a converge: each listed account's parameters, one account at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amistate.core.amis import Place
from amistate.core.state import AmiState
from amistate.errors import AccountUnreachable
from amistate.usecases import ami_parameter

if TYPE_CHECKING:
    from amistate.usecases.batch import Batch
    from amistate.usecases.converge import Converger


def write_targets(
    converger: Converger, preset: str, record: AmiState, batch: Batch | None = None
) -> tuple[bool, dict[str, str]]:
    """Every target account's parameters (the JSON one, then the plain AMI one if
    the preset names it), one account's failure never stopping the others:
    (whether any was written, the accounts left ``behind``: account -> why). A denied
    account (permanent) and one the build has no copy for (its previous AMI stays)
    are behind; a transient error is raised once every account had its turn. A
    ``batch`` (a reconcile run) serves the parameters as the run read them."""
    wrote, failed = False, None
    behind: dict[str, list[str]] = {}
    for account in record.target_accounts:
        regions = converger.settings.regions
        missing = [r for r in regions if record.ami_for(r, account=account) is None]
        if missing:
            why = f"{account}: no copy in {', '.join(missing)}, previous AMI kept"
            behind.setdefault(account, []).append(why)
        if batch is not None and account in batch.unreachable:
            behind.setdefault(account, []).append(batch.unreachable[account])
            continue
        try:
            for region in regions:
                wrote |= converger.write_parameter(Place(region, account), preset, record, batch)
            if record.ami_parameter is not None:
                stores = {r: converger.store(Place(r, account)) for r in regions}
                wrote |= ami_parameter.keep_all(stores, record, account)
        except AccountUnreachable as exc:
            behind.setdefault(account, []).append(str(exc))
        except Exception as exc:
            failed = failed or exc
    if failed is not None:
        raise failed
    return wrote, {account: "; ".join(whys) for account, whys in behind.items()}


__all__ = ["write_targets"]
