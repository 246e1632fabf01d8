"""What the stack deploys, as plain data: the stack's options and N presets.

Everything here is stdlib data (no CDK types), so the same values can come
from a JSON file (``presets.json``), CDK context, or Python code. :func:`validate`
checks everything before a single construct is created, and names the
offending field when something is wrong; :mod:`.loading` reads the JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from amistate.core import ami_parameter
from amistate.core.names import DEFAULT_PARAMETER_PREFIX, validate_prefix
from amistate.core.rollout import parse_rollout
from amistate.core.settings import DEFAULT_TARGET_ROLE, MAX_HISTORY, ROLE_NAME
from amistate.errors import InvalidProperties
from amistate.usecases.deploy.properties import ACCOUNT_ID, target_accounts

#: Sundays 03:00 UTC. Image Builder cron has six fields, like EventBridge's.
DEFAULT_SCHEDULE = "cron(0 3 ? * SUN *)"
#: Build a new image on every scheduled run, even when no component or parent
#: image changed: the point of the schedule is fresh OS patches, which
#: ``EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE`` cannot see (it only
#: compares recipe dependencies) and would silently skip.
DEFAULT_START_CONDITION = "EXPRESSION_MATCH_ONLY"
START_CONDITIONS = ("EXPRESSION_MATCH_ONLY", "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE")

_SCHEDULE = re.compile(r"cron\([^()]+\)|rate\([^()]+\)")
_CRON_FIXED_MINUTE = re.compile(r"cron\(\s*(\d{1,2})(\s.*)\)")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")
_NAME_PREFIX = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
#: The reconciler's schedule (issue 13): a lost event is healed within this period.
DEFAULT_RECONCILE_SCHEDULE = "rate(15 minutes)"
#: A preset whose AMI (the one in SSM) is older than this raises the age alarm.
DEFAULT_AMI_MAX_AGE_DAYS = 14
#: A rollout's candidate waiting longer than this (hours) alarms (``CandidateWaiting``).
DEFAULT_CANDIDATE_MAX_WAIT_HOURS = 48
#: The lifecycle policy keeps this many newest images of each preset (the AMIs
#: the reconciler tags in use are never deleted, whatever their rank).
DEFAULT_KEEP_IMAGES = 10
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

#: ``<namePrefix>-<preset>``: the recipe adds ``-<hash8>`` and the AMI name the
#: build date (about 25 characters) within Image Builder's 128.
MAX_BASE_NAME = 100


class SettingsError(ValueError):
    """The settings are invalid; the message names the field."""


@dataclass(frozen=True)
class RecipeSpec:
    """How a preset's image is built.

    ``parent_image`` is an AMI ID (``ami-...``), an Image Builder image ARN
    (``arn:aws:imagebuilder:{region}:aws:image/amazon-linux-2023-x86/x.x.x``) or
    an SSM parameter (``ssm:/aws/service/ami-amazon-linux-latest/...``): Image
    Builder resolves ``ssm:`` at every build, so scheduled builds start from the
    newest base AMI. ``components`` are component ARNs; ``{region}`` and
    ``{partition}`` in either are replaced with the stack's.
    """

    parent_image: str
    components: tuple[str, ...]
    version: str = "1.0.0"
    build_instance_types: tuple[str, ...] = ("m7i.large",)
    subnet_id: str | None = None
    security_group_ids: tuple[str, ...] = ()
    root_volume_gib: int | None = None

    def fingerprint(self) -> str:
        """Short hash of what makes the recipe (recipes are immutable: a change is a new one)."""
        text = json.dumps(
            [self.parent_image, self.components, self.version, self.root_volume_gib],
            separators=(",", ":"),
        )
        return hashlib.sha256(text.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class PresetSpec:
    """One spot-runner preset: its runner configuration and its image recipe."""

    name: str
    instance_types: tuple[str, ...]
    timeout: int
    labels: tuple[str, ...]
    recipe: RecipeSpec
    extra_config: Mapping[str, Any] = field(default_factory=dict)
    schedule: str | None = None
    start_build: bool = True
    #: The plain AMI parameter amistate keeps for launch templates (``resolve:ssm:``).
    ami_parameter: str | None = None
    #: How a newer good build reaches the runners: ``immediate`` (None: amistate's
    #: default), ``manual`` or ``soak`` with ``soak_time`` (ISO-8601, e.g. ``PT6H``).
    rollout_policy: str | None = None
    soak_time: str | None = None
    #: A runner launch template on it (:mod:`.launch_templates`): deploy once the
    #: preset's first good build exists (EC2 checks the parameter exists).
    launch_template: bool = False
    #: The runners' other accounts (12-digit IDs): the pipeline copies each AMI there and
    #: amistate keeps this preset's parameter in each (``TargetAccounts``, :mod:`.targets`).
    target_accounts: tuple[str, ...] = ()

    def config(self) -> dict[str, Any]:
        """The preset's configuration as stored in SSM (amistate adds ``amiId``)."""
        return {
            "instanceTypes": list(self.instance_types),
            "timeout": self.timeout,
            "labels": list(self.labels),
            **self.extra_config,
        }


@dataclass(frozen=True)
class LifecycleSpec:
    """The Image Builder lifecycle policy of every preset's images (AMIs and snapshots).

    Deletes a preset's images beyond the ``keep_images`` newest, or, with
    ``max_age_days``, those older than that (keeping at least
    ``min(keep_images, 10)``). AMIs the reconciler tags
    ``amistate:in-use:<stack name>=true`` (the one in SSM, the newest good one and
    the previous good ones) are always excluded.
    """

    enabled: bool = True
    keep_images: int = DEFAULT_KEEP_IMAGES
    max_age_days: int | None = None


@dataclass(frozen=True)
class AmiStateSettings:
    """The whole deployment.

    ``table_name`` set: use that existing table (the spot-runner table);
    unset: create one. ``secure_strings``: some parameters are SecureStrings
    (the state function may then call DescribeParameters to keep their key and
    tier); ``secure_string_key_arn``: they are encrypted with that customer
    managed key, which the state function may use through SSM (implies
    ``secure_strings``; not needed for the AWS managed key ``aws/ssm``).
    """

    presets: tuple[PresetSpec, ...]
    table_name: str | None = None
    parameter_prefix: str = DEFAULT_PARAMETER_PREFIX
    schedule: str = DEFAULT_SCHEDULE
    start_condition: str = DEFAULT_START_CONDITION
    schedule_timezone: str | None = None
    secure_strings: bool = False
    secure_string_key_arn: str | None = None
    extra_regions: tuple[str, ...] = ()
    tracing: bool = False
    name_prefix: str = "amistate"
    leading_keys: tuple[str, ...] = ("AMI#*", "PIPELINE#*")
    spread_schedules: bool = True
    reconcile_schedule: str = DEFAULT_RECONCILE_SCHEDULE
    ami_max_age_days: int = DEFAULT_AMI_MAX_AGE_DAYS
    #: A candidate (manual or soak rollout) waiting longer than this alarms.
    candidate_max_wait_hours: int = DEFAULT_CANDIDATE_MAX_WAIT_HOURS
    alarm_email: str | None = None
    lifecycle: LifecycleSpec = field(default_factory=LifecycleSpec)
    history_limit: int | None = None  # AMISTATE_HISTORY_LIMIT; None: amistate's default (20)
    #: Image Builder's SNS notifications into the state function's queue too
    #: (:mod:`.notifications`); the EventBridge rule stays either way.
    notifications: bool = False
    #: The account the build stack is deployed in (required with ``target_accounts``):
    #: the target roles trust its functions' roles, and no preset may target it.
    build_account: str | None = None
    #: The role amistate assumes in every target account (``AMISTATE_TARGET_ROLE``).
    target_role_name: str = DEFAULT_TARGET_ROLE
    #: The target stacks also create Image Builder's ``EC2ImageBuilderDistributionCrossAccountRole``
    #: (False: the runners' accounts already have it).
    distribution_role: bool = True

    def target_accounts(self) -> tuple[str, ...]:
        """Every account some preset targets, sorted."""
        return tuple(sorted({a for p in self.presets for a in p.target_accounts}))


def _check_rollouts(settings: AmiStateSettings) -> None:
    """Each preset's rollout as the custom resource will check it, and the wait alarm's limit."""
    wait = settings.candidate_max_wait_hours
    if isinstance(wait, bool) or not 1 <= wait <= 24 * 90:
        raise SettingsError("candidateMaxWaitHours: expected a number of hours from 1 to 2160")
    for index, preset in enumerate(settings.presets):
        where = f"presets[{index}]"
        try:
            parse_rollout(
                preset.rollout_policy,
                preset.soak_time,
                f"{where}.rolloutPolicy",
                f"{where}.soakTime",
            )
        except ValueError as exc:
            raise SettingsError(str(exc)) from None


def validate(settings: AmiStateSettings) -> None:
    """Raise :class:`SettingsError` naming the first invalid field."""
    if not settings.presets:
        raise SettingsError("presets: at least one preset is required")
    if settings.table_name is not None and not _TABLE_NAME.fullmatch(settings.table_name):
        raise SettingsError(f"tableName: {settings.table_name!r} is not a DynamoDB table name")
    try:
        validate_prefix(settings.parameter_prefix)
    except ValueError as exc:
        raise SettingsError(f"parameterPrefix: {exc}") from None
    _check_schedule("schedule", settings.schedule)
    if settings.start_condition not in START_CONDITIONS:
        raise SettingsError(f"startCondition: expected one of {', '.join(START_CONDITIONS)}")
    key = settings.secure_string_key_arn
    if key is not None and not _KMS_KEY_ARN.fullmatch(key):
        raise SettingsError("secureStringKeyArn: expected arn:aws:kms:<region>:<account>:key/<id>")
    for region in settings.extra_regions:
        if not isinstance(region, str) or not _REGION.fullmatch(region):
            raise SettingsError(f"extraRegions: {region!r} is not a region name")
    _check_schedule("reconcileSchedule", settings.reconcile_schedule)
    limit = settings.history_limit
    if limit is not None and (isinstance(limit, bool) or not 1 <= limit <= MAX_HISTORY):
        raise SettingsError(f"historyLimit: expected a whole number from 1 to {MAX_HISTORY}")
    if isinstance(settings.ami_max_age_days, bool) or not 1 <= settings.ami_max_age_days <= 365:
        raise SettingsError("amiMaxAgeDays: expected a number of days from 1 to 365")
    _check_rollouts(settings)
    if settings.alarm_email is not None and not _EMAIL.fullmatch(settings.alarm_email):
        raise SettingsError(f"alarmEmail: {settings.alarm_email!r} is not an e-mail address")
    lifecycle = settings.lifecycle
    if isinstance(lifecycle.keep_images, bool) or not 1 <= lifecycle.keep_images <= 1000:
        raise SettingsError("imageLifecycle.keepImages: expected 1 to 1000 images")
    age = lifecycle.max_age_days
    if age is not None and (isinstance(age, bool) or not 1 <= age <= 1000):
        raise SettingsError("imageLifecycle.maxAgeDays: expected 1 to 1000 days")
    if not _NAME_PREFIX.fullmatch(settings.name_prefix):
        raise SettingsError("namePrefix: 1-40 characters a-z 0-9 -, starting with a letter/digit")
    seen: dict[str, str] = {}
    for preset in settings.presets:
        slug = resource_slug(preset.name)
        if slug in seen:
            raise SettingsError(
                f"presets: {preset.name!r} and {seen[slug]!r} map to the same Image Builder "
                f"name {slug!r} (names are case-insensitive and '.' becomes '-')"
            )
        seen[slug] = preset.name
        base = f"{settings.name_prefix}-{slug}"
        if len(base) > MAX_BASE_NAME:
            raise SettingsError(
                f"presets: {preset.name!r} is too long for Image Builder names with prefix "
                f"{settings.name_prefix!r} ({len(base)} > {MAX_BASE_NAME} characters; the "
                "recipe and AMI names add a hash and the build date)"
            )
        if preset.schedule is not None:
            _check_schedule(f"presets[{preset.name}].schedule", preset.schedule)
    _check_ami_parameters(settings)
    _check_target_accounts(settings)


def _check_target_accounts(settings: AmiStateSettings) -> None:
    """Each preset's ``targetAccounts`` as the custom resource checks them, none of them the
    build account, which is then required; and the target role's name."""
    build = settings.build_account
    if build is not None and not ACCOUNT_ID.fullmatch(build):
        raise SettingsError(f"buildAccount: {build!r} is not a 12-digit AWS account ID")
    if not ROLE_NAME.fullmatch(settings.target_role_name):
        raise SettingsError(
            f"targetRoleName: {settings.target_role_name[:80]!r} is not an IAM role name "
            "(1-64 characters of A-Z a-z 0-9 + = , . @ _ -)"
        )
    for index, preset in enumerate(settings.presets):
        where = f"presets[{index}].targetAccounts"
        try:
            accounts = target_accounts(list(preset.target_accounts), where)
        except InvalidProperties as exc:
            raise SettingsError(str(exc)) from None
        if accounts and build is None:
            raise SettingsError(
                f"buildAccount: required with {where} (the account of the build stack, "
                "whose functions the target accounts' roles trust)"
            )
        if build in accounts:
            raise SettingsError(
                f"{where}: {build} is the build account (buildAccount); list only the "
                "runners' other accounts"
            )


def _check_ami_parameters(settings: AmiStateSettings) -> None:
    """Each ``amiParameter`` a name amistate can keep, outside the prefix, one per preset."""
    owners: dict[str, str] = {}
    for preset in settings.presets:
        name = preset.ami_parameter
        if name is None:
            if preset.launch_template:
                raise SettingsError(f"presets[{preset.name}].launchTemplate: needs amiParameter")
            continue
        where = f"presets[{preset.name}].amiParameter"
        try:
            ami_parameter.validate_name(name, where)
            ami_parameter.check_outside(name, settings.parameter_prefix.rstrip("/"), where)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        other = owners.setdefault(name, preset.name)
        if other != preset.name:
            raise SettingsError(f"{where}: {name!r} is already presets[{other}].amiParameter")


def schedule_minute(preset: str) -> int:
    """The preset's minute of the hour: stable (sha256 of the name), spread over 0-59."""
    return int.from_bytes(hashlib.sha256(preset.encode()).digest()[:8], "big") % 60


def pipeline_schedule(settings: AmiStateSettings, preset: PresetSpec) -> str:
    """The schedule expression of ``preset``'s pipeline.

    A preset's own ``schedule`` is used as written. Otherwise the top-level
    schedule, and with ``spread_schedules`` (the default) its minute replaced by
    :func:`schedule_minute`, when it is a ``cron(...)`` whose minute is one
    number: builds of presets sharing a schedule then end minutes apart, not in
    one burst of SSM writes (SSM allows about 3 PutParameter per second).
    ``rate(...)`` and cron minutes like ``*/15`` or ``0,30`` are kept as written.
    """
    if preset.schedule is not None:
        return preset.schedule
    expression = settings.schedule
    if settings.spread_schedules:
        fixed = _CRON_FIXED_MINUTE.fullmatch(expression)
        if fixed is not None:
            return f"cron({schedule_minute(preset.name)}{fixed.group(2)})"
    return expression


def resource_slug(preset: str) -> str:
    """The preset's part of Image Builder names: lowercase, ``.`` -> ``-`` (ARNs are lowercase)."""
    return preset.lower().replace(".", "-")


def _check_schedule(where: str, expression: str) -> None:
    if not _SCHEDULE.fullmatch(expression):
        raise SettingsError(f"{where}: expected cron(...) or rate(...), got {expression!r}")


__all__ = [
    "DEFAULT_AMI_MAX_AGE_DAYS",
    "DEFAULT_KEEP_IMAGES",
    "DEFAULT_RECONCILE_SCHEDULE",
    "DEFAULT_SCHEDULE",
    "DEFAULT_START_CONDITION",
    "AmiStateSettings",
    "LifecycleSpec",
    "PresetSpec",
    "RecipeSpec",
    "SettingsError",
    "pipeline_schedule",
    "resource_slug",
    "schedule_minute",
    "validate",
]
