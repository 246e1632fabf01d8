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
    """Print what changed and what each region's parameter holds now."""
    service = rt.service
    held = []
    for region in service.settings.regions:
        parameter = service.parameter(region, change.preset)
        held.append({"region": region, "ssmAmiId": ami_of(parameter.value if parameter else None)})
    name = service.parameter_name(change.preset)
    if args.json:
        document: dict[str, Any] = {
            "preset": change.preset,
            "action": change.action,
            "pin": pin_json(change.pin),
            "parameter": name,
            "amiId": change.ami_id,
            "regions": held,
        }
        render.emit_json(document)
        return 0
    print(_headline(change))
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


__all__ = ["run", "run_pin", "run_rollback", "run_unpin"]
