"""``pin``, ``unpin``, ``rollback``: the operator's part of a preset's desired state.

Each goes through :class:`amistate.usecases.pins.Pins` (a conditional pin write, then the
service's write-and-confirm loop), then reads back what every region's
parameter holds. A refused target (:class:`amistate.errors.PinRefused`) writes
nothing and exits 1, as every amistate refusal does.
"""

from __future__ import annotations

import argparse
from typing import Any

from amistate.core.merge import ami_of
from amistate.usecases.pins import PinChange
from amistate.wiring.compose import Runtime

from . import render
from .operate import pin_json


def run(args: argparse.Namespace, rt: Runtime) -> int:
    """``amistate pin|unpin|rollback``."""
    if args.command == "pin":
        return run_pin(args, rt)
    if args.command == "unpin":
        return run_unpin(args, rt)
    return run_rollback(args, rt)


def run_pin(args: argparse.Namespace, rt: Runtime) -> int:
    change = rt.pins.pin(args.preset, args.target, args.reason)
    return _report(args, rt, change)


def run_unpin(args: argparse.Namespace, rt: Runtime) -> int:
    return _report(args, rt, rt.pins.unpin(args.preset))


def run_rollback(args: argparse.Namespace, rt: Runtime) -> int:
    change = rt.pins.rollback(args.preset, args.reason)
    return _report(args, rt, change)


def _report(args: argparse.Namespace, rt: Runtime, change: PinChange) -> int:
    first = {"preset": change.preset, "action": change.action, "pin": pin_json(change.pin)}
    return report(rt, change.preset, first, change.ami_id, _headline(change), args.json)


def report(
    rt: Runtime,
    preset: str,
    first: dict[str, Any],
    ami_id: str | None,
    headline: str,
    as_json: bool,
) -> int:
    """Print what an operator's change did (``first``, ``headline``) and what each
    region's parameter holds now (read back); the home parameter's AMI is ``ami_id``."""
    converger = rt.converger
    held = []
    for region in converger.settings.regions:
        parameter = converger.parameter(region, preset)
        held.append({"region": region, "ssmAmiId": ami_of(parameter.value if parameter else None)})
    name = converger.parameter_name(preset)
    if as_json:
        render.emit_json({**first, "parameter": name, "amiId": ami_id, "regions": held})
        return 0
    print(headline)
    for entry in held:
        print(f"  {name} ({entry['region']}) holds {render.dash(entry['ssmAmiId'])}")
    return 0


def _headline(change: PinChange) -> str:
    pin = change.pin
    if change.action == "unpinned":
        return f"{change.preset}: unpinned; the parameter follows the newest good build again"
    if pin is None:
        return f"{change.preset}: not pinned; nothing changed"
    why = f" ({pin.reason})" if pin.reason else ""
    verb = "pinned to" if change.action == "pinned" else "already pinned to"
    return f"{change.preset}: {verb} {render.build(pin.build_id)} {pin.ami_id}{why}"


__all__ = ["report", "run", "run_pin", "run_rollback", "run_unpin"]
