"""Settings from plain JSON-like data (``presets.json``, CDK context): camelCase keys.

Every field is read with its type checked, unknown fields are refused, and the
result is validated (:func:`.settings.validate`) before a construct is created;
each error names the offending field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from amistate.core.names import DEFAULT_PARAMETER_PREFIX, validate_preset
from amistate.core.settings import DEFAULT_TARGET_ROLE

from .settings import (
    DEFAULT_AMI_MAX_AGE_DAYS,
    DEFAULT_CANDIDATE_MAX_WAIT_HOURS,
    DEFAULT_KEEP_IMAGES,
    DEFAULT_RECONCILE_SCHEDULE,
    DEFAULT_SCHEDULE,
    DEFAULT_START_CONDITION,
    AmiStateSettings,
    LifecycleSpec,
    PresetSpec,
    RecipeSpec,
    SettingsError,
    validate,
)

_VERSION = re.compile(r"\d{1,9}\.\d{1,9}\.\d{1,9}")


def load_settings(data: Mapping[str, Any]) -> AmiStateSettings:
    """Build and validate settings from plain JSON-like data (camelCase keys)."""
    top = _Fields(data, "settings")
    raw_presets = top.get("presets", list, required=True)
    presets = tuple(_load_preset(item, f"presets[{i}]") for i, item in enumerate(raw_presets))
    settings = AmiStateSettings(
        presets=presets,
        table_name=top.get("tableName", str),
        parameter_prefix=top.get("parameterPrefix", str) or DEFAULT_PARAMETER_PREFIX,
        schedule=top.get("schedule", str) or DEFAULT_SCHEDULE,
        start_condition=top.get("startCondition", str) or DEFAULT_START_CONDITION,
        schedule_timezone=top.get("scheduleTimezone", str),
        secure_strings=bool(top.get("secureStrings", bool)),
        secure_string_key_arn=top.get("secureStringKeyArn", str),
        extra_regions=tuple(top.get("extraRegions", list) or ()),
        tracing=bool(top.get("tracing", bool)),
        name_prefix=top.get("namePrefix", str) or "amistate",
        spread_schedules=top.get("spreadSchedules", bool) is not False,
        reconcile_schedule=top.get("reconcileSchedule", str) or DEFAULT_RECONCILE_SCHEDULE,
        ami_max_age_days=_or_default(top.get("amiMaxAgeDays", int), DEFAULT_AMI_MAX_AGE_DAYS),
        candidate_max_wait_hours=_or_default(
            top.get("candidateMaxWaitHours", int), DEFAULT_CANDIDATE_MAX_WAIT_HOURS
        ),
        alarm_email=top.get("alarmEmail", str),
        lifecycle=_load_lifecycle(top.get("imageLifecycle", Mapping)),
        history_limit=top.get("historyLimit", int),
        notifications=bool(top.get("notifications", bool)),
        build_account=top.get("buildAccount", str),
        target_role_name=top.get("targetRoleName", str) or DEFAULT_TARGET_ROLE,
        distribution_role=top.get("distributionRole", bool) is not False,
    )
    top.no_unknown()
    validate(settings)
    return settings


def _or_default(value: int | None, default: int) -> int:
    return default if value is None else value


def _load_lifecycle(item: Mapping[str, Any] | None) -> LifecycleSpec:
    if item is None:
        return LifecycleSpec()
    fields = _Fields(item, "imageLifecycle")
    spec = LifecycleSpec(
        enabled=fields.get("enabled", bool) is not False,
        keep_images=_or_default(fields.get("keepImages", int), DEFAULT_KEEP_IMAGES),
        max_age_days=fields.get("maxAgeDays", int),
    )
    fields.no_unknown()
    return spec


def _load_preset(item: object, where: str) -> PresetSpec:
    if not isinstance(item, Mapping):
        raise SettingsError(f"{where}: expected an object")
    fields = _Fields(item, where)
    name = fields.get("name", str, required=True)
    try:
        validate_preset(name)
    except ValueError as exc:
        raise SettingsError(f"{where}.name: {exc}") from None
    timeout = fields.get("timeout", int, required=True)
    if isinstance(timeout, bool) or timeout <= 0:
        raise SettingsError(f"{where}.timeout: expected a positive integer (seconds)")
    recipe = _load_recipe(fields.get("recipe", Mapping, required=True), f"{where}.recipe")
    extra = dict(fields.get("extraConfig", Mapping) or {})
    clash = {"instanceTypes", "timeout", "labels", "amiId"} & set(extra)
    if clash:
        raise SettingsError(f"{where}.extraConfig: {sorted(clash)} are set by amistate")
    spec = PresetSpec(
        name=name,
        instance_types=_strings(fields.get("instanceTypes", list, required=True), where),
        timeout=timeout,
        labels=_strings(fields.get("labels", list) or [], where),
        recipe=recipe,
        extra_config=extra,
        schedule=fields.get("schedule", str),
        start_build=fields.get("startBuild", bool) is not False,
        ami_parameter=fields.get("amiParameter", str),
        rollout_policy=fields.get("rolloutPolicy", str),
        soak_time=fields.get("soakTime", str),
        launch_template=bool(fields.get("launchTemplate", bool)),
        target_accounts=_strings(
            fields.get("targetAccounts", list) or [], f"{where}.targetAccounts"
        ),
    )
    fields.no_unknown()
    if not spec.instance_types:
        raise SettingsError(f"{where}.instanceTypes: at least one instance type is required")
    return spec


def _load_recipe(item: Mapping[str, Any], where: str) -> RecipeSpec:
    fields = _Fields(item, where)
    components = _strings(fields.get("components", list, required=True), where)
    if not components:
        raise SettingsError(f"{where}.components: at least one component is required")
    version = fields.get("version", str) or "1.0.0"
    if not _VERSION.fullmatch(version):
        raise SettingsError(f"{where}.version: expected <major>.<minor>.<patch>")
    volume = fields.get("rootVolumeGiB", int)
    spec = RecipeSpec(
        parent_image=fields.get("parentImage", str, required=True),
        components=components,
        version=version,
        build_instance_types=_strings(
            fields.get("buildInstanceTypes", list) or ["m7i.large"], where
        ),
        subnet_id=fields.get("subnetId", str),
        security_group_ids=_strings(fields.get("securityGroupIds", list) or [], where),
        root_volume_gib=volume,
    )
    fields.no_unknown()
    if spec.subnet_id is not None and not spec.security_group_ids:
        raise SettingsError(f"{where}.securityGroupIds: required with subnetId")
    if not spec.parent_image.startswith(("ami-", "arn:", "ssm:")):
        raise SettingsError(f"{where}.parentImage: expected ami-..., arn:... or ssm:<parameter>")
    return spec


def _strings(values: Sequence[object], where: str) -> tuple[str, ...]:
    if not all(isinstance(v, str) and v for v in values):
        raise SettingsError(f"{where}: expected a list of non-empty strings")
    return tuple(str(v) for v in values)


class _Fields:
    """Typed access to one JSON object that remembers which keys were read."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data = data
        self.where = where
        self.read: set[str] = set()

    def get(self, key: str, kind: type[Any], *, required: bool = False) -> Any:
        self.read.add(key)
        value = self.data.get(key)
        if value is None:
            if required:
                raise SettingsError(f"{self.where}.{key}: required")
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise SettingsError(f"{self.where}.{key}: expected {kind.__name__}")
        return value

    def no_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            raise SettingsError(f"{self.where}: unknown field(s) {', '.join(unknown)}")


__all__ = ["load_settings"]
