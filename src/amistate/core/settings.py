"""The one way in for configuration: the environment, explicit overrides -> :class:`Settings`.

Every entry point (the state and reconcile Lambdas, the custom resource, the
CLI, :mod:`amistate.read`) builds its settings with :func:`load` from the same
environment, so no setting can be read by one and forgotten by another; the
CLI's flags and :class:`~amistate.read.Reader`'s arguments are
:class:`~amistate.core.overrides.Overrides` of single variables, read and checked exactly as those
variables are. Nothing else reads ``AMISTATE_*``. See docs/configuration.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from attrs import evolve, frozen

from amistate.core.arns import owner_of
from amistate.core.names import DEFAULT_PARAMETER_PREFIX, REGION_NAME, validate_prefix
from amistate.errors import ConfigurationError, InvalidPresetName

if TYPE_CHECKING:
    from amistate.core.in_use import InUseKeys
    from amistate.core.overrides import Overrides

TABLE = "AMISTATE_TABLE"
PARAMETER_PREFIX = "AMISTATE_PARAMETER_PREFIX"
EXTRA_REGIONS = "AMISTATE_EXTRA_REGIONS"
HISTORY = "AMISTATE_HISTORY_LIMIT"
SSM_WRITE_RATE = "AMISTATE_SSM_WRITE_RATE"
DEPLOYMENT = "AMISTATE_DEPLOYMENT"
TARGET_ROLE = "AMISTATE_TARGET_ROLE"
#: The role amistate assumes in each target account, unless ``AMISTATE_TARGET_ROLE`` names another.
DEFAULT_TARGET_ROLE = "amistate-target"
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
#: Builds kept per preset by default, and the most a setting may ask for
#: (the history lives on the record, which DynamoDB caps at 400 KB).
HISTORY_LIMIT = 20
MAX_HISTORY = 100
#: A deployment name (``AMISTATE_DEPLOYMENT``): a stack name fits.
DEPLOYMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}|arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/.+")


@frozen
class Settings:
    """Where amistate acts, and whose builds and pipelines it trusts.

    ``home_region`` is the function's own region; ``extra_regions`` get their
    own region's AMI in their own parameter. ``account`` and ``partition``
    (from the function's ARN) are None when unknown, and then not checked.
    Built by :func:`load` only (tests excepted): a field it does not read is a
    setting no deployment can set.
    """

    home_region: str
    account: str | None = None
    partition: str | None = None
    parameter_prefix: str = DEFAULT_PARAMETER_PREFIX
    extra_regions: tuple[str, ...] = ()
    table: str | None = None
    history_limit: int = HISTORY_LIMIT  # builds kept per preset (the reconciler trims)
    #: ``PutParameter`` calls per second one process starts per region (None: unpaced).
    ssm_write_rate: float | None = None
    deployment: str | None = None  # names the in-use tag keys; None: the table's name
    target_role: str = DEFAULT_TARGET_ROLE  # assumed in every target account

    def target_role_arn(self, account: str) -> str:
        """The role amistate assumes in ``account``, in our partition."""
        partition = self.partition or partition_of(self.home_region)
        return f"arn:{partition}:iam::{account}:role/{self.target_role}"

    def in_use_keys(self) -> InUseKeys:
        """This deployment's in-use tag keys (:mod:`amistate.core.in_use`): from
        ``deployment``, else from the table (``<region>/<table name>``). Imported
        here: the event path never asks (a cold start does not pay for it)."""
        from amistate.core.in_use import InUseKeys, table_deployment

        if self.deployment:
            return InUseKeys.of(self.deployment)
        if not self.table:
            raise ConfigurationError(
                f"{DEPLOYMENT} or {TABLE} must be set: the in-use tag keys name the deployment"
            )
        return InUseKeys.of(table_deployment(self.table, self.home_region))

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region whose parameter amistate writes, the home region first."""
        return (self.home_region, *self.extra_regions)

    def foreign(self, partition: str, region: str, account: str) -> str | None:
        """The trust rule, for builds and pipelines alike: why an owner is not us, or None."""
        if self.account is not None and account != self.account:
            return f"account {account}, not ours"
        if self.partition is not None and partition != self.partition:
            return f"partition {partition}, not ours"
        if region != self.home_region:
            return f"region {region}, not ours"
        return None

    def with_owner(self, function_arn: object) -> Settings:
        """These settings with the account and partition of ``function_arn`` (if an ARN)."""
        owner = owner_of(function_arn) if isinstance(function_arn, str) else None
        if owner is None:
            return self
        partition, _, account = owner
        return evolve(self, account=account, partition=partition)


#: The variable each override stands for.
_OVERRIDDEN = {"table": TABLE, "region": "AWS_REGION", "parameter_prefix": PARAMETER_PREFIX}


def load(
    environ: Mapping[str, str] | None = None,
    overrides: Overrides | None = None,
    *,
    function_arn: object = None,
    require_table: bool = True,
) -> Settings:
    """The settings of every entry point: ``environ`` (default: the process's), then
    ``overrides``, then the owner in ``function_arn`` (a Lambda's own ARN, if any).

    Raises :class:`ConfigurationError` naming the variable (or the override).
    """
    env = dict(os.environ if environ is None else environ)
    names: dict[str, str] = {}
    given = overrides.names if overrides is not None else {}
    for name, variable in _OVERRIDDEN.items():
        value = getattr(overrides, name, None)
        if value:
            env[variable] = value
            names[variable] = given.get(name, variable)
    table = env.get(TABLE, "").strip()
    if not table and require_table:
        raise ConfigurationError(
            f"{TABLE} is not set: set it to the name of the DynamoDB table that holds "
            "the AMI state records (the stack's table)"
        )
    if table and not TABLE_NAME.fullmatch(table):
        raise ConfigurationError(f"{_named(names, TABLE, table[:80])}: {table_problem(table)}")
    variable = "AWS_REGION" if env.get("AWS_REGION") else "AWS_DEFAULT_REGION"
    region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
    if not region:
        raise ConfigurationError(
            "no AWS region: set AWS_REGION (Lambda sets it) or AWS_DEFAULT_REGION"
        )
    if not REGION_NAME.fullmatch(region):
        raise ConfigurationError(f"{_named(names, variable, region[:40])}: {REGION_FORM}")
    return Settings(
        home_region=region,
        parameter_prefix=_prefix(env, names.get(PARAMETER_PREFIX, PARAMETER_PREFIX)),
        extra_regions=_extra_regions(env, region),
        table=table or None,
        history_limit=_history_limit(env),
        ssm_write_rate=_write_rate(env),
        deployment=_deployment(env),
        target_role=_target_role(env),
    ).with_owner(function_arn)


def _named(names: Mapping[str, str], variable: str, text: str) -> str:
    """``VARIABLE='text'``, or ``--flag 'text'`` for an override named so."""
    name = names.get(variable)
    return f"{name} {text!r}" if name and name != variable else f"{variable}={text!r}"


#: What a region name looks like, for error messages.
REGION_FORM = "not an AWS region name (expected the region's code, such as us-west-2 or eu-west-1)"


def table_problem(table: str) -> str:
    """Why ``table`` is not a DynamoDB table name or ARN (for an error message)."""
    if table.startswith("arn:"):
        return (
            "not a DynamoDB table ARN (expected arn:aws:dynamodb:<region>:<12-digit "
            "account>:table/<name>)"
        )
    bad = sorted({c for c in table if not (c.isascii() and (c.isalnum() or c in "_.-"))})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        return (
            f"not a DynamoDB table name: {shown} not allowed (a name is 3-255 characters "
            "of A-Z a-z 0-9 _ . -, or pass the table's ARN)"
        )
    return (
        f"not a DynamoDB table name: {len(table)} character{'s' if len(table) != 1 else ''} "
        "long (a name is 3-255 characters "
        "of A-Z a-z 0-9 _ . -, or pass the table's ARN)"
    )


def _history_limit(env: Mapping[str, str]) -> int:
    text = env.get(HISTORY, "").strip()
    if not text:
        return HISTORY_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_HISTORY:
        raise ConfigurationError(
            f"{HISTORY}={text[:20]!r}: expected a whole number of builds from 1 to {MAX_HISTORY}"
        )
    return int(text)


def _write_rate(env: Mapping[str, str]) -> float | None:
    """Writes per second one container may start: the account's SSM rate over the
    function's maximum concurrency (the CDK example sets it from both)."""
    text = env.get(SSM_WRITE_RATE, "").strip()
    if not text:
        return None
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if not 0.01 <= rate <= 10_000:
        raise ConfigurationError(
            f"{SSM_WRITE_RATE}={text[:20]!r}: expected writes per second, "
            "a number from 0.01 to 10000 (such as 1.5)"
        )
    return rate


def _deployment(env: Mapping[str, str]) -> str | None:
    name = env.get(DEPLOYMENT, "").strip()
    if name and not DEPLOYMENT_NAME.fullmatch(name):
        raise ConfigurationError(
            f"{DEPLOYMENT}={name[:80]!r}: expected 1-255 characters of A-Z a-z 0-9 _ . -, "
            "starting with a letter or digit (the stack's name, say)"
        )
    return name or None


def _target_role(env: Mapping[str, str]) -> str:
    name = env.get(TARGET_ROLE, "").strip()
    if name and not ROLE_NAME.fullmatch(name):
        raise ConfigurationError(
            f"{TARGET_ROLE}={name[:80]!r}: expected an IAM role name "
            "(1-64 characters of A-Z a-z 0-9 + = , . @ _ -), the same in every target account"
        )
    return name or DEFAULT_TARGET_ROLE


def partition_of(region: str) -> str:
    """The partition a region belongs to (when no function ARN said it)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _prefix(env: Mapping[str, str], name: str) -> str:
    prefix = env.get(PARAMETER_PREFIX, "").strip() or DEFAULT_PARAMETER_PREFIX
    try:
        return validate_prefix(prefix.rstrip("/") or prefix)
    except InvalidPresetName as exc:
        raise ConfigurationError(f"{name}: {exc}") from None


def _extra_regions(env: Mapping[str, str], home: str) -> tuple[str, ...]:
    extra: list[str] = []
    for part in env.get(EXTRA_REGIONS, "").split(","):
        name = part.strip()
        if not name:
            continue
        if not REGION_NAME.fullmatch(name):
            raise ConfigurationError(
                f"{EXTRA_REGIONS}: {name[:40]!r} is not a region name "
                "(expected a comma-separated list such as 'eu-west-1,us-east-1')"
            )
        if name != home and name not in extra:
            extra.append(name)
    return tuple(extra)


__all__ = [
    "DEPLOYMENT",
    "EXTRA_REGIONS",
    "HISTORY",
    "PARAMETER_PREFIX",
    "REGION_FORM",
    "SSM_WRITE_RATE",
    "TABLE",
    "TABLE_NAME",
    "TARGET_ROLE",
    "ConfigurationError",
    "Settings",
    "load",
    "table_problem",
]
