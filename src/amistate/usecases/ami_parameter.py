"""The plain AMI parameter through the ports: keep it, read it, judge it.

What the parameter is (names, data type, what amistate never writes over) is
:mod:`amistate.core.ami_parameter`; here is what the service's converge loop,
the reconcile planner and run, and deploys do with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from amistate.core.ami_parameter import unwritable
from amistate.core.amis import Place
from amistate.core.state import AmiState
from amistate.errors import InvalidConfig
from amistate.ports import Parameter, ParameterStore


def drift(name: str, current: Parameter | None, ami: str) -> str | None:
    """What differs between the parameter as read and ``ami`` (None: in sync),
    for a plan; :class:`InvalidConfig` when amistate must not write over it."""
    if current is None:
        return f"{name} (missing)"
    why = unwritable(name, current.type, current.data_type)
    if why is not None:
        raise InvalidConfig(why)
    return None if current.value == ami else name


def keep(store: ParameterStore, name: str, ami: str) -> bool:
    """Make ``name`` hold ``ami`` in ``store``'s region: read, and write only
    when it differs. True if it wrote; :class:`InvalidConfig`, and nothing
    written, for a parameter amistate must not write over (:func:`unwritable`)."""
    if drift(name, store.get(name), ami) is None:
        return False
    store.put_ami(name, ami)
    return True


def keep_all(
    stores: Mapping[str, ParameterStore], record: AmiState, account: str | None = None
) -> bool:
    """Make ``record``'s AMI parameter, if it names one, hold its live AMI in every
    region (of ``stores``, our own or a target ``account``'s) that has one; True if
    anything was written. The service's converge calls it after every JSON
    parameter of the same account, which it therefore never holds up."""
    name = record.ami_parameter
    wrote = False
    for region, store in stores.items() if name is not None else ():
        ami = record.ami_for(region, account=account)
        if ami is not None and name is not None:
            wrote |= keep(store, name, ami)
    return wrote


def problem(stores: Mapping[str, ParameterStore], name: str) -> str | None:
    """Why amistate may not keep ``name``: an existing parameter it must not
    write over, in some region; None when it may. For deploys, before any write."""
    for region, store in stores.items():
        found = store.get(name)
        why = unwritable(name, found.type, found.data_type) if found else None
        if why is not None:
            return f"{why} ({region})"
    return None


def read(
    stores: Mapping[str, ParameterStore], records: Iterable[AmiState], account: str | None = None
) -> dict[tuple[Place, str], Parameter | None]:
    """Every region's AMI parameter of the records that name one (of ``stores``, our
    own or a target ``account``'s), by (place, preset), ten names a call; no call
    when none does. For reconcile runs."""
    named = [(r.preset, r.ami_parameter) for r in records if r.ami_parameter]
    found: dict[tuple[Place, str], Parameter | None] = {}
    for region, store in stores.items() if named else ():
        got = store.get_many([name for _, name in named])
        found |= {(Place(region, account), preset): got.get(name) for preset, name in named}
    return found


__all__ = ["drift", "keep", "keep_all", "problem", "read"]
