"""``examples/cdk/app.py``: a settings error is one line naming the key or file, no traceback.

In-process and fast: the app's ``main`` runs on an ``App`` whose context a
test sets (as ``cdk synth -c key=value`` would); every error here is raised
before the first construct. ``app.py`` imports ``amistate_cdk`` (its folder is
the CDK's working directory): that name is the package the tests import.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import examples.cdk.amistate_cdk as amistate_cdk
from tests.cdk.synth import EXAMPLE_SETTINGS, ROOT

# isort: split
from aws_cdk import App


def _app_module() -> ModuleType:
    sys.modules.setdefault("amistate_cdk", amistate_cdk)
    spec = importlib.util.spec_from_file_location("amistate_app", ROOT / "examples/cdk/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


APP = _app_module()


def _example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE_SETTINGS.read_text())
    return data


def _exit_line(context: dict[str, Any]) -> str:
    """What ``main`` exits with: SystemExit's message (Python prints it, no traceback)."""
    with pytest.raises(SystemExit) as caught:
        APP.main(App(context=context))
    message = caught.value.code
    assert isinstance(message, str), message  # a message: exit status 1
    assert "\n" not in message
    return message


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "presets.json"
    path.write_text(text)
    return str(path)


def _without_timeout(data: dict[str, Any]) -> None:
    del data["presets"][0]["timeout"]


def _unknown_field(data: dict[str, Any]) -> None:
    data["presets"][1]["recipe"]["parent"] = "ami-0123"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_without_timeout, "error: invalid settings: presets[0].timeout: required"),
        (
            _unknown_field,
            "error: invalid settings: presets[1].recipe: unknown field(s) parent",
        ),
    ],
)
def test_an_invalid_field_of_the_settings_file_is_one_line_naming_it(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    data = _example()
    change(data)
    assert _exit_line({"presets": _write(tmp_path, json.dumps(data))}) == expected


def test_a_settings_file_that_is_not_json_names_the_file_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"presets": [\n')
    assert _exit_line({"presets": path}) == (
        f"error: invalid settings: {path}: not valid JSON: Expecting value at line 2 column 1"
    )


def test_a_settings_file_that_is_not_an_object_or_missing_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[]")
    assert _exit_line({"presets": path}) == (
        f"error: invalid settings: {path}: expected a JSON object, got list"
    )
    missing = str(tmp_path / "nope.json")
    assert _exit_line({"presets": missing}).startswith(
        f"error: invalid settings: {missing}: no such file (the settings file: the `presets` "
        "context"
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("amiMaxAgeDays", "abc", "amiMaxAgeDays (context): 'abc' is not a whole number"),
        ("amiMaxAgeDays", "900", "amiMaxAgeDays: expected a number of days from 1 to 365"),
        ("alarmEmail", "oncall", "alarmEmail: 'oncall' is not an e-mail address"),
        ("reconcileSchedule", "every 5 min", "reconcileSchedule: expected cron(...) or rate(...)"),
    ],
)
def test_an_invalid_context_override_is_one_line_naming_the_key(
    key: str, value: str, expected: str
) -> None:
    assert _exit_line({key: value}).startswith(f"error: invalid settings: {expected}")
