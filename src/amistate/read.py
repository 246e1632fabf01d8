"""The reader API, for the Lambdas that launch runners.

::

    from amistate import read

    ami = read.runner_ami("linux-x64")        # RunnerAmi: what the runners launch
    ami.ami_id                                # launch this (the pinned build's while pinned)
    config = read.preset_config("linux-x64")  # the SSM JSON: {"instanceTypes": ..., ...}
    state = read.latest("linux-x64")          # AmiState: the whole record
    builds = read.history("linux-x64")        # BuildRecords, newest first, failures included

:func:`runner_ami` is the one call for the AMI to launch: the AMI the preset's
parameter holds, decided as every writer decides it (a pin or a rollback wins
over the newest good build), with the build that produced it. Never gate on
``state.status``: it says how the *newest* build ended, and after a failure
the AMI is still the last good one. ``state.ami_id`` is the newest good AMI,
which is not what the runners launch while the preset is pinned.

Each call is one AWS call (DynamoDB ``GetItem``, strongly consistent; SSM
``GetParameter`` with decryption). Clients are created once per process and
reused across invocations. Configuration comes from the same environment
variables the state Lambda reads: ``AMISTATE_TABLE`` (all but
``preset_config``), ``AMISTATE_PARAMETER_PREFIX`` (default
``/spot-runner/configs``), ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``); or build
a :class:`Reader` with explicit values.

Errors: :class:`~amistate.errors.UnknownPreset` for a preset nobody registered,
:class:`~amistate.errors.PresetNotBuilt` for one registered whose first good
build has not arrived (``runner_ami``, ``preset_config``),
:class:`~amistate.errors.InvalidPresetName` for a name that cannot be a preset,
:class:`~amistate.errors.InvalidConfig` for a parameter that is not a JSON
object, :class:`~amistate.errors.ConfigurationError` when ``AMISTATE_TABLE``
is missing; AWS errors (throttling, permissions) propagate as botocore
exceptions. Settings come from :mod:`amistate.core.settings` and the ports from the
same AWS wiring as the Lambdas.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from amistate.core import settings as settings_module
from amistate.core.merge import load_object
from amistate.core.names import DEFAULT_PARAMETER_PREFIX, parameter_name, state_pk, validate_preset
from amistate.core.overrides import Overrides
from amistate.core.settings import Settings
from amistate.core.state import AmiState, BuildRecord, Pin, RunnerAmi
from amistate.errors import ConfigurationError, PresetNotBuilt, UnknownPreset

if TYPE_CHECKING:
    from amistate_adapters.wiring import MakeClient

    from amistate.ports import ParameterStore, StateStore


#: How errors name the arguments of :class:`Reader`.
_NAMES = {
    "table": "Reader(table=...)",
    "region": "Reader(region=...)",
    "parameter_prefix": "Reader(parameter_prefix=...)",
}


class Reader:
    """Reads one table and one parameter prefix; safe to share between threads.

    Arguments left out come from the environment when first needed; ``make``
    injects the AWS clients (default: the process's shared ones).
    """

    def __init__(
        self,
        table: str | None = None,
        region: str | None = None,
        parameter_prefix: str | None = None,
        make: MakeClient | None = None,
    ) -> None:
        self._table = table
        self._region = region
        self._prefix = parameter_prefix
        self._make = make
        self._lock = threading.Lock()
        self._states: tuple[Settings, StateStore] | None = None
        self._parameters: tuple[Settings, ParameterStore] | None = None

    def settings(self) -> Settings:
        """The settings now: explicit arguments, else the environment."""
        overrides = Overrides(
            table=self._table, region=self._region, parameter_prefix=self._prefix, names=_NAMES
        )
        return settings_module.load(None, overrides, require_table=False)

    @property
    def table(self) -> str:
        table = self.settings().table
        if not table:
            raise ConfigurationError(
                f"{settings_module.TABLE} is not set: set it (or pass Reader(table=...)) to the "
                "DynamoDB table that holds the AMI state records"
            )
        return table

    @property
    def parameter_prefix(self) -> str:
        return self.settings().parameter_prefix or DEFAULT_PARAMETER_PREFIX

    def latest(self, preset: str) -> AmiState:
        """The preset's state record (status, amiId, updatedAt, buildId, ...): one GetItem."""
        name = validate_preset(preset)
        table = self.table
        record = self._state_store().get(name)
        if record is None:
            raise UnknownPreset(
                f"unknown preset {name!r}: table {table} has no record {state_pk(name)}"
            )
        return record

    def runner_ami(self, preset: str, region: str | None = None) -> RunnerAmi:
        """What the preset's runners launch in ``region`` (default: the home region):
        the pinned build's AMI while pinned, else the newest good one. One GetItem."""
        record = self.latest(preset)
        home = self.settings().home_region
        found = record.runner_ami(region or home)
        if found is None:
            raise PresetNotBuilt(_not_built(record, region or home))
        return found

    def preset_config(self, preset: str) -> Mapping[str, Any]:
        """The preset's SSM parameter as a mapping (``amiId`` included): one GetParameter.

        A missing parameter costs one more call (GetItem, when a table is set) to
        tell a preset not built yet from an unknown one."""
        name = parameter_name(self.parameter_prefix, validate_preset(preset))
        found = self._parameter_store().get(name)
        if found is None:
            raise self._no_parameter(preset, name)
        return load_object(found.value, f"SSM parameter {name}")

    def _no_parameter(self, preset: str, name: str) -> LookupError:
        if not self.settings().table:
            return UnknownPreset(
                f"unknown preset {preset!r}: no SSM parameter {name} (a registered preset "
                f"has none before its first good build; set {settings_module.TABLE} to tell)"
            )
        try:
            record = self.latest(preset)
        except UnknownPreset:
            return UnknownPreset(
                f"unknown preset {preset!r}: no SSM parameter {name}, and table "
                f"{self.table} has no record {state_pk(preset)}"
            )
        home = self.settings().home_region
        launched = record.runner_ami(home)
        if launched is None:
            return PresetNotBuilt(_not_built(record, home))
        return UnknownPreset(
            f"preset {preset!r} has AMI {launched.ami_id} but no SSM parameter {name}: "
            "`amistate sync` (or the next reconcile run) recreates it"
        )

    def history(self, preset: str, limit: int | None = None) -> tuple[BuildRecord, ...]:
        """The preset's terminal builds, newest first (at most ``limit``): one GetItem.

        Failures are included (``ami_id`` None). ValueError for a ``limit`` below 1.
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise ValueError(f"limit: expected a whole number or None, got {limit!r}")
        if limit is not None and limit < 1:
            raise ValueError(f"limit: must be at least 1, got {limit}")
        return self.latest(preset).builds(limit)

    def _state_store(self) -> StateStore:
        settings = self.settings()
        with self._lock:
            if self._states is None or self._states[0] != settings:
                from amistate_adapters.wiring import state_store

                self._states = (settings, state_store(settings, self._make))
            return self._states[1]

    def _parameter_store(self) -> ParameterStore:
        settings = self.settings()
        with self._lock:
            if self._parameters is None or self._parameters[0] != settings:
                from amistate_adapters.wiring import parameter_store

                self._parameters = (settings, parameter_store(settings.home_region, self._make))
            return self._parameters[1]


def _not_built(record: AmiState, region: str) -> str:
    where = "" if record.ami_id is None else f" for region {region}"
    return (
        f"preset {record.preset!r} is registered but has no good build{where} yet (status "
        f"{record.status}): nothing to launch until its first build succeeds"
    )


_default_lock = threading.Lock()
_default: Reader | None = None


def _reader() -> Reader:
    global _default
    with _default_lock:
        if _default is None:
            _default = Reader()
        return _default


def latest(preset: str) -> AmiState:
    """The preset's state record, from the environment's table (see the module docstring)."""
    return _reader().latest(preset)


def runner_ami(preset: str, region: str | None = None) -> RunnerAmi:
    """What the preset's runners launch (see the module docstring)."""
    return _reader().runner_ami(preset, region)


def preset_config(preset: str) -> Mapping[str, Any]:
    """The preset's SSM configuration as a mapping (see the module docstring)."""
    return _reader().preset_config(preset)


def history(preset: str, limit: int | None = None) -> tuple[BuildRecord, ...]:
    """The preset's builds, newest first, failures included (see the module docstring)."""
    return _reader().history(preset, limit)


def reset() -> None:
    """Forget the default reader (tests that change the environment)."""
    global _default
    with _default_lock:
        _default = None


__all__ = [
    "AmiState",
    "BuildRecord",
    "Pin",
    "Reader",
    "RunnerAmi",
    "history",
    "latest",
    "preset_config",
    "reset",
    "runner_ami",
]
