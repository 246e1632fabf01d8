"""The declared Lambda runtime follows the package; preset schedules are spread over the hour."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from examples.cdk.amistate_cdk import (
    load_settings,
    pipeline_schedule,
    python_runtime,
    runtime_name,
    schedule_minute,
)
from examples.cdk.amistate_cdk.stack import lambda_runtime
from tests.cdk.synth import EXAMPLE_SETTINGS

BUILDING = f"python{sys.version_info.major}.{sys.version_info.minor}"


def test_the_runtime_file_of_the_package_names_the_runtime(tmp_path: Path) -> None:
    (tmp_path / "RUNTIME").write_text("python3.13\n")
    assert runtime_name(tmp_path) == "python3.13"
    runtime = lambda_runtime(tmp_path)
    assert runtime.name == "python3.13"
    assert str(runtime.family) == "RuntimeFamily.PYTHON"


def test_without_the_file_the_building_interpreter_decides(tmp_path: Path) -> None:
    assert runtime_name(tmp_path) == BUILDING
    assert lambda_runtime(tmp_path).name == BUILDING


@pytest.mark.parametrize("content", ["python2.7", "nodejs20.x", "python3.12; rm -rf /", ""])
def test_a_runtime_file_naming_no_python_3_runtime_is_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / "RUNTIME").write_text(content)
    with pytest.raises(SystemExit, match="make lambda-asset"):
        lambda_runtime(tmp_path)
    with pytest.raises(ValueError, match="python3"):
        python_runtime(content)


def _expected_minute(name: str) -> int:
    """sha256 of the name, first 8 bytes big-endian, mod 60 (the documented rule)."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:16], 16) % 60


def test_each_preset_gets_a_stable_minute_from_its_name() -> None:
    assert schedule_minute("linux-x64") == _expected_minute("linux-x64") == 27
    assert schedule_minute("linux-arm64") == _expected_minute("linux-arm64") == 5
    names = [f"preset-{i}" for i in range(200)]
    minutes = [schedule_minute(n) for n in names]
    assert minutes == [_expected_minute(n) for n in names]
    assert all(0 <= m < 60 for m in minutes)
    # Spread: 200 names land on most of the 60 minutes, not a handful.
    assert len(set(minutes)) > 45


def _settings(**top: object) -> dict[str, object]:
    data: dict[str, object] = json.loads(Path(EXAMPLE_SETTINGS).read_text())
    data.update(top)
    return data


@pytest.mark.parametrize(
    ("schedule", "spread", "expected"),
    [
        ("cron(0 3 ? * SUN *)", None, "cron(27 3 ? * SUN *)"),
        ("cron(45 22 ? * MON-FRI *)", None, "cron(27 22 ? * MON-FRI *)"),
        ("cron(0 3 ? * SUN *)", False, "cron(0 3 ? * SUN *)"),
        ("cron(0 3 ? * SUN *)", True, "cron(27 3 ? * SUN *)"),
        ("cron(*/15 * * * ? *)", None, "cron(*/15 * * * ? *)"),
        ("cron(0,30 3 ? * SUN *)", None, "cron(0,30 3 ? * SUN *)"),
        ("rate(7 days)", None, "rate(7 days)"),
    ],
)
def test_the_top_level_cron_minute_is_replaced_unless_turned_off(
    schedule: str, spread: bool | None, expected: str
) -> None:
    top: dict[str, object] = {"schedule": schedule}
    if spread is not None:
        top["spreadSchedules"] = spread
    settings = load_settings(_settings(**top))
    x64 = settings.presets[0]
    assert x64.name == "linux-x64"
    assert pipeline_schedule(settings, x64) == expected


def test_a_presets_own_schedule_is_never_moved() -> None:
    settings = load_settings(_settings())
    own = replace(settings.presets[0], schedule="cron(0 3 ? * SUN *)")
    assert pipeline_schedule(settings, own) == "cron(0 3 ? * SUN *)"
