"""What the core needs from the outside world, as Protocols.

Each port's docstring is its contract. Adapters in ``amistate_adapters``
implement them for AWS (DynamoDB, SSM, Image Builder) and in memory; the
shared contract tests in ``tests/contract/`` hold every implementation to the
same behaviour.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from attrs import field, frozen

from amistate.core.amis import Amis
from amistate.core.rules import Transition
from amistate.core.state import AmiState, BuildRecord

if TYPE_CHECKING:
    from amistate.core.builds import TrimBasis
    from amistate.core.state_parts import Candidate, Pin, Rejection, RolloutBasis
    from amistate.ports.preset import Preset as Preset

ParameterType = Literal["String", "SecureString"]


@frozen
class Applied:
    """The transition was written; ``record`` is the record after it."""

    record: AmiState


@frozen
class Rejected:
    """The transition's condition did not hold; ``current`` is the winning record."""

    current: AmiState


ApplyResult = Applied | Rejected


class StateStore(Protocol):
    """The AMI state records, one per preset.

    ``apply`` is atomic per record: it writes ``transition`` if and only if
    ``transition.applies_to(current)`` holds at the moment of the write, and
    otherwise returns :class:`Rejected` carrying the record that won, read
    atomically with the failed check (never a stale copy). The record returned
    by :class:`Applied` includes the co-located preset ``config``. An applied
    transition also keeps its build in the record's ``history`` (key
    ``transition.key``, value ``transition.entry``) in the same atomic write.

    Every other write is conditional too, so racing writers (events, reconcile
    runs, operators) can never undo each other's newer work.
    """

    def apply(self, preset: str, transition: Transition) -> ApplyResult: ...

    def keep_build(self, preset: str, build: BuildRecord) -> None:
        """Add ``build`` to the history unless it is there (idempotent; no
        record: no-op). For builds whose transition was stale."""
        ...

    def forget_builds(self, preset: str, keys: Collection[str], basis: TrimBasis) -> bool:
        """Remove these history entries (trimming; idempotent) if and only if the
        record's ``amiKey`` and pin are still ``basis``'s and none of them is
        rejected; entries added meanwhile stay. False when the condition failed
        (or there is no record)."""
        ...

    def fall_back(self, preset: str, ami_key: str, to: BuildRecord) -> AmiState | None:
        """Make ``to``'s build the AMI register's (``amiId``, ``amis``, ``amiKey``,
        ``amiBuildId``, ``amiUpdatedAt``) if and only if ``amiKey`` is still
        ``ami_key`` (every write of the register changes it) and ``to`` is not
        rejected in the history. The record after, or None."""
        ...

    def promote(self, preset: str, candidate: Candidate) -> AmiState | None:
        """Make ``candidate`` the AMI register's (its key, ``completed_at`` as
        ``amiUpdatedAt``) and remove it, if and only if it is still the record's
        candidate and newer than ``amiKey``. The record after, or None."""
        ...

    def reject(
        self,
        preset: str,
        key: str,
        rejection: Rejection,
        basis: RolloutBasis,
        to: BuildRecord | None,
    ) -> AmiState | None:
        """Mark the history entry ``key`` rejected if and only if it exists and the
        record still has ``basis``; in the same write remove the candidate if it is
        that build, and make ``to`` the AMI register if the register holds it
        (:func:`amistate.core.rollout.replacement`). The record after, or None."""
        ...

    def set_pin(self, preset: str, pin: Pin | None, expected: str | None) -> AmiState | None:
        """Set (or with None remove) the pin if and only if the current pin's
        ``build_id`` is ``expected`` (None: not pinned) and, when pinning, the
        history holds a good entry for ``pin.build_id``. The record after, or None."""
        ...

    def set_behind(self, preset: str, behind: Mapping[str, str]) -> None:
        """Record which target accounts the last converge left behind (account ->
        why; empty: none), replacing what the record said. Only on an existing
        record; the caller writes only when the set changed."""
        ...

    def get(self, preset: str) -> AmiState | None:
        """The current record, strongly consistent; None if there is none."""
        ...

    def current(self, preset: str) -> AmiState | None:
        """:meth:`get` without the build history (``history`` is empty): what a
        converge confirms against and writes from, which never decides by the
        history. The history is most of a mature record's bytes."""
        ...

    def get_many(self, presets: Collection[str]) -> Mapping[str, AmiState]:
        """The current records of ``presets``, strongly consistent, by preset; a
        preset without a record is left out. Batched (a reconcile run confirms
        its writes with it)."""
        ...

    def create_initial(self, preset: str, created_at: datetime) -> bool:
        """Create ``status=building, amiId=null`` unless a record exists; True if created."""
        ...

    def scan(self) -> Iterator[AmiState]:
        """Every record (for operators' status and sync)."""
        ...


#: The largest value (bytes) of a Standard-tier SSM parameter; larger values need Advanced.
STANDARD_TIER_LIMIT = 4096


@frozen
class Parameter:
    """One SSM parameter as read, with what a rewrite must keep.

    ``tier`` is None when the read did not tell it (``GetParameter`` never
    does): it is never inferred from the value's size. ``version`` is the
    version read (SSM numbers every write), None when unknown; it does not
    take part in equality, which compares what the parameter holds.
    ``data_type`` is SSM's ``DataType`` (``text``, or ``aws:ec2:image`` for an
    AMI parameter, :mod:`amistate.core.ami_parameter`).
    """

    name: str
    value: str
    type: ParameterType = "String"
    key_id: str | None = None
    tier: str | None = None
    version: int | None = field(default=None, eq=False)
    data_type: str = field(default="text", eq=False)


@frozen
class Written:
    """What one ``PutParameter`` made: the parameter's new version and its tier."""

    version: int
    tier: str | None = None


class ParameterStore(Protocol):
    """SSM parameters of one region. There is no compare-and-set: the service
    confirms against the state store after every write, and compares the
    version a write made with the version it read, to find other writers'
    writes that landed in between (:meth:`history`)."""

    region: str

    def get(self, name: str) -> Parameter | None:
        """The parameter, decrypted, with its version; None if it does not exist."""
        ...

    def put(self, name: str, value: str, like: Parameter | None) -> Written:
        """Overwrite ``name`` with ``value``, keeping ``like``'s type and key, and
        naming its tier when ``like`` knows it.

        ``value`` is always a complete JSON object; a value over 4 KB is written
        Advanced. A tier that ``like`` does not know is not named (Parameter
        Store keeps or assigns it); if Parameter Store refuses the write because
        the parameter is Advanced, the tier is read and the write made again
        naming it. A new parameter (``like is None``) is a String.
        """
        ...

    def put_ami(self, name: str, ami_id: str) -> Written:
        """Overwrite (or create) ``name`` as a ``String`` of ``DataType``
        ``aws:ec2:image`` holding ``ami_id``, paced like :meth:`put`.

        Parameter Store checks such a value after answering: a write it then
        refuses leaves the parameter as it was (the next converge finds it).
        Writing over a parameter of another type or data type is refused
        (:class:`~amistate.errors.AwsRequestRejected`), as Parameter Store does.
        """
        ...

    def history(self, name: str) -> tuple[Parameter, ...]:
        """The parameter's versions Parameter Store keeps (the last 100), oldest
        first, decrypted, each with its version and tier; ``()`` if it does not exist."""
        ...

    def get_many(self, names: Collection[str]) -> Mapping[str, Parameter | None]:
        """Several parameters, decrypted, ten names a call (``GetParameters``);
        None for the ones that do not exist."""
        ...


class Accounts(Protocol):
    """Target accounts, each reached through its role (``AMISTATE_TARGET_ROLE``).

    A store is made on first use; the role is assumed at its first call, and
    its credentials kept until shortly before they expire. A denied role (or a
    denied call with it) raises :class:`~amistate.errors.AccountUnreachable`
    naming the account and the role.
    """

    def parameters(self, account: str, region: str) -> ParameterStore:
        """``account``'s SSM parameters in ``region``."""
        ...

    def machines(self, account: str, region: str) -> Any:
        """``account``'s AMIs in ``region`` (a
        :class:`~amistate.ports.inventory.MachineImages`)."""
        ...


class PresetCatalog(Protocol):
    """Preset configurations and the pipeline -> preset mapping, written at deploy."""

    def register(self, preset: Preset, previous_pipeline_arn: str | None = None) -> None:
        """Record ``preset``'s config, retired keys, AMI parameter name (None:
        none) and rollout on its record, and add it to its pipeline's presets
        (removing it from ``previous_pipeline_arn``'s).
        A pipeline feeds any number of presets; adding one never removes
        another. Never touches the AMI registers. Idempotent."""
        ...

    def unregister(self, preset: str, pipeline_arn: str | None) -> None:
        """Remove ``preset`` from the pipeline's presets; the others stay. The
        record forgets its ``pipeline_arn`` if it still names this pipeline (a
        deleted preset); its state, config and history stay. Idempotent."""
        ...

    def presets_for_pipeline(self, pipeline_arn: str) -> tuple[str, ...]:
        """The presets a pipeline builds for, sorted; () for a pipeline no preset uses."""
        ...

    def target_accounts(self, pipeline_arn: str, preset: str) -> tuple[str, ...]:
        """The target accounts ``preset`` of this pipeline listed at its last register
        (the same read, and cache, as :meth:`presets_for_pipeline`)."""
        ...


@frozen
class ImageFacts:
    """What ``GetImage`` tells about one build."""

    amis: Amis  # every account's copies (amis.amis_of)
    pipeline_arn: str | None
    status: str | None = None
    created: datetime | None = None  # dateCreated: when the build started


class ImageCatalog(Protocol):
    """Image Builder's view of a build (``imagebuilder:GetImage``): the truth every
    event's claims are checked against (:mod:`amistate.usecases.verify`)."""

    def describe(self, build_arn: str) -> ImageFacts:
        """The build's facts; :class:`~amistate.errors.UnknownBuild` when Image
        Builder has no such image (``ResourceNotFoundException``)."""
        ...


class PipelineStarter(Protocol):
    """Starts a pipeline execution without waiting for the build."""

    def start(self, pipeline_arn: str, client_token: str) -> str:
        """Start a build; the same ``client_token`` never starts two. Returns the build ARN."""
        ...


@frozen
class Ports:
    """Every port the service and the deployer need: what each wiring returns
    (AWS in ``amistate_adapters.wiring``, memory in ``amistate_adapters.memory``).

    ``clients`` are the distinct SDK clients behind the ports (empty in memory),
    so the composition root can count their calls.
    """

    states: StateStore
    catalog: PresetCatalog
    images: ImageCatalog
    starter: PipelineStarter
    parameters: Mapping[str, ParameterStore]
    clients: tuple[Any, ...] = ()
    accounts: Accounts | None = None  # target accounts (None: this wiring reaches none)


def __getattr__(name: str) -> Any:
    """``Preset``, from :mod:`amistate.ports.preset` (imported on first access: only
    deploys register presets, so the event Lambda's cold start never builds it)."""
    if name == "Preset":
        from amistate.ports.preset import Preset

        globals()["Preset"] = Preset  # later lookups skip this
        return Preset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
