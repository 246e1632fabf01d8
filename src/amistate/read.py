"""The reader API, for the Lambdas that launch runners.

::

    from amistate import read

    state = read.latest("linux-x64")          # AmiState: status, ami_id, updated_at, build_id
    config = read.preset_config("linux-x64")  # the SSM JSON: {"amiId": ..., "instanceTypes": ...}

Each call is one AWS call (DynamoDB ``GetItem``, strongly consistent; SSM
``GetParameter`` with decryption). Clients are created once per process and
reused across invocations. Configuration comes from the same environment
variables the state Lambda reads: ``AMISTATE_TABLE`` (``latest`` only),
``AMISTATE_PARAMETER_PREFIX`` (default ``/spot-runner/configs``), ``AWS_REGION``
(or ``AWS_DEFAULT_REGION``); or build a :class:`Reader` with explicit values.

Errors: :class:`~amistate.errors.UnknownPreset` when the preset has no record
or no parameter, :class:`~amistate.errors.InvalidPresetName` for a name that
cannot be a preset, :class:`~amistate.errors.InvalidConfig` for a parameter
that is not a JSON object, :class:`~amistate.shims.config.ConfigurationError`
when ``AMISTATE_TABLE`` is missing; AWS errors (throttling, permissions)
propagate as botocore exceptions.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from amistate.errors import UnknownPreset
from amistate.merge import load_object
from amistate.names import (
    DEFAULT_PARAMETER_PREFIX,
    parameter_name,
    state_pk,
    validate_prefix,
    validate_preset,
)
from amistate.state import AmiState

if TYPE_CHECKING:
    from amistate_adapters.dynamodb import DynamoStateStore

_TABLE = "AMISTATE_TABLE"
_PREFIX = "AMISTATE_PARAMETER_PREFIX"


class Reader:
    """Reads one table and one parameter prefix; safe to share between threads.

    Arguments left out come from the environment when first needed.
    """

    def __init__(
        self,
        table: str | None = None,
        region: str | None = None,
        parameter_prefix: str | None = None,
    ) -> None:
        self._table = table
        self._region = region
        self._prefix = parameter_prefix
        self._lock = threading.Lock()
        self._states: DynamoStateStore | None = None

    @property
    def region(self) -> str | None:
        env = os.environ
        return self._region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None

    @property
    def table(self) -> str:
        table = (self._table or os.environ.get(_TABLE, "")).strip()
        if not table:
            from amistate.shims.config import ConfigurationError

            raise ConfigurationError(
                f"{_TABLE} is not set: set it (or pass Reader(table=...)) to the DynamoDB "
                "table that holds the AMI state records"
            )
        return table

    @property
    def parameter_prefix(self) -> str:
        prefix = self._prefix or os.environ.get(_PREFIX, "").strip() or DEFAULT_PARAMETER_PREFIX
        return validate_prefix(prefix.rstrip("/") or prefix)

    def latest(self, preset: str) -> AmiState:
        """The preset's state record (status, amiId, updatedAt, buildId, ...): one GetItem."""
        name = validate_preset(preset)
        record = self._state_store().get(name)
        if record is None:
            raise UnknownPreset(
                f"unknown preset {name!r}: table {self.table} has no record {state_pk(name)}"
            )
        return record

    def preset_config(self, preset: str) -> Mapping[str, Any]:
        """The preset's SSM parameter as a mapping (``amiId`` included): one GetParameter."""
        name = parameter_name(self.parameter_prefix, validate_preset(preset))
        from amistate_adapters import clients

        ssm = clients.client("ssm", self.region)
        try:
            found = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        except ssm.exceptions.ParameterNotFound:
            raise UnknownPreset(f"unknown preset {preset!r}: no SSM parameter {name}") from None
        return load_object(found.get("Value", ""), f"SSM parameter {name}")

    def _state_store(self) -> DynamoStateStore:
        table = self.table
        with self._lock:
            if self._states is None or self._states.table_name != table:
                from amistate_adapters import clients
                from amistate_adapters.dynamodb import DynamoStateStore

                self._states = DynamoStateStore(table, clients.client("dynamodb", self.region))
            return self._states


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


def preset_config(preset: str) -> Mapping[str, Any]:
    """The preset's SSM configuration as a mapping (see the module docstring)."""
    return _reader().preset_config(preset)


def reset() -> None:
    """Forget the default reader (tests that change the environment)."""
    global _default
    with _default_lock:
        _default = None


__all__ = ["Reader", "latest", "preset_config", "reset"]
