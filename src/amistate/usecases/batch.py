"""What a caller converging many presets at once (a reconcile run) shares with the service.

A run has already read every record (one ``Scan``) and every parameter
(``GetParameters``, ten a call). The service starts from those instead of
one ``GetItem`` (mapping, record) and one ``GetParameter`` per preset, and
leaves the confirm of each write to the caller, who makes them together at
the end (``BatchGetItem``, a hundred records a call) instead of one ``GetItem``
after each write. The guarantees of :meth:`amistate.service.AmiService.converge`
stand: a read that went stale is caught by ``PutParameter``'s version (another
writer in between) or by the confirm (the record wants something else now:
converge again), every conditional write re-checks the record itself, and every
write is still followed by a strongly consistent read of its record.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import define, field

from amistate.core.amis import Place
from amistate.core.state import AmiState
from amistate.ports import Parameter


@define
class Batch:
    #: Build ARN -> the presets the caller feeds it to (instead of the pipeline mapping).
    feeds: Mapping[str, tuple[str, ...]] = field(factory=dict)
    #: Preset -> its newest record known: as the caller read it, or as the service wrote
    #: it since (a fall-back starts from it; its condition re-checks it).
    records: dict[str, AmiState] = field(factory=dict)
    #: (place, preset) -> the parameter as the caller read it (ours or a target
    #: account's); serves one write.
    reads: dict[tuple[Place, str], Parameter | None] = field(factory=dict)
    #: Preset -> the record its last write followed, until the caller confirms it.
    unconfirmed: dict[str, AmiState] = field(factory=dict)
    #: Target account -> why the caller could not reach it: no write is tried there.
    unreachable: Mapping[str, str] = field(factory=dict)

    def take(self, place: Place, preset: str) -> tuple[bool, Parameter | None]:
        """(True, the read) once, when the caller read it and it may be rewritten
        (a read without a version, e.g. a StringList's, may not); else (False, None)."""
        if (place, preset) not in self.reads:
            return False, None
        read = self.reads.pop((place, preset))
        return read is None or read.version is not None, read


__all__ = ["Batch"]
