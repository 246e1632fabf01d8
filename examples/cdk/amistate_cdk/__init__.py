"""CDK v2 constructs that deploy amistate (see docs/getting-started.md)."""

# First: quiets jsii's Node.js banner before the imports below start jsii.
from ._jsii import JSII_QUIET

# isort: split
from .construct import AmiStatePipeline, PresetPipeline, python_runtime
from .loading import load_settings
from .settings import (
    DEFAULT_SCHEDULE,
    DEFAULT_START_CONDITION,
    AmiStateSettings,
    LifecycleSpec,
    PresetSpec,
    RecipeSpec,
    SettingsError,
    pipeline_schedule,
    schedule_minute,
)
from .stack import (
    AmiStateStack,
    build_app,
    lambda_code,
    lambda_runtime,
    read_settings,
    runtime_name,
)
from .target_role import AmiStateTargetStack, TargetAccountRole, target_stack_id

__all__ = [
    "DEFAULT_SCHEDULE",
    "DEFAULT_START_CONDITION",
    "JSII_QUIET",
    "AmiStatePipeline",
    "AmiStateSettings",
    "AmiStateStack",
    "AmiStateTargetStack",
    "LifecycleSpec",
    "PresetPipeline",
    "PresetSpec",
    "RecipeSpec",
    "SettingsError",
    "TargetAccountRole",
    "build_app",
    "lambda_code",
    "lambda_runtime",
    "load_settings",
    "pipeline_schedule",
    "python_runtime",
    "read_settings",
    "runtime_name",
    "schedule_minute",
    "target_stack_id",
]
