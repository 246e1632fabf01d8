"""CDK v2 constructs that deploy amistate (see docs/getting-started.md)."""

from .construct import AmiStatePipeline, PresetPipeline
from .settings import (
    DEFAULT_SCHEDULE,
    DEFAULT_START_CONDITION,
    AmiStateSettings,
    PresetSpec,
    RecipeSpec,
    SettingsError,
    load_settings,
)
from .stack import AmiStateStack, build_app, lambda_code, read_settings

__all__ = [
    "DEFAULT_SCHEDULE",
    "DEFAULT_START_CONDITION",
    "AmiStatePipeline",
    "AmiStateSettings",
    "AmiStateStack",
    "PresetPipeline",
    "PresetSpec",
    "RecipeSpec",
    "SettingsError",
    "build_app",
    "lambda_code",
    "load_settings",
    "read_settings",
]
