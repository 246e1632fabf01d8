"""A stack holding one :class:`AmiStatePipeline`, and the app builder ``app.py`` uses."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from .construct import AmiStatePipeline, python_runtime
from .settings import AmiStateSettings, load_settings


class AmiStateStack(Stack):
    """amistate for ``settings.presets``; ``asset_dir``: see ``make lambda-asset``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AmiStateSettings,
        asset_dir: Path,
        env: Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description="amistate: Image Builder pipelines whose AMIs land in DynamoDB and SSM",
        )
        self.amistate = AmiStatePipeline(
            self,
            "AmiState",
            settings=settings,
            code=lambda_code(asset_dir),
            runtime=lambda_runtime(asset_dir),
        )


def lambda_code(asset_dir: Path) -> lambda_.Code:
    """The prebuilt package folder as Lambda code; no Docker, no bundling at synth time."""
    if not (asset_dir / "amistate" / "shims" / "lambda_handler.py").is_file():
        raise SystemExit(
            f"{asset_dir} does not hold the amistate package: run `make lambda-asset` "
            "in the repository root first (it builds the Lambda code without Docker)"
        )
    return lambda_.Code.from_asset(str(asset_dir))


#: Written by ``make lambda-asset``: the runtime its bytecode was compiled for.
RUNTIME_FILE = "RUNTIME"


def runtime_name(asset_dir: Path) -> str:
    """The Lambda runtime the package in ``asset_dir`` was built for.

    ``<asset_dir>/RUNTIME`` (e.g. ``python3.12``) when ``make lambda-asset``
    wrote it; otherwise the interpreter running the synthesis, ``python3.X``.
    """
    marker = asset_dir / RUNTIME_FILE
    if marker.is_file():
        return marker.read_text(encoding="utf-8").strip()
    return f"python{sys.version_info[0]}.{sys.version_info[1]}"


def lambda_runtime(asset_dir: Path) -> lambda_.Runtime:
    """The runtime matching the package's bytecode (see :func:`runtime_name`)."""
    name = runtime_name(asset_dir)
    try:
        return python_runtime(name)
    except ValueError as exc:
        raise SystemExit(
            f"{asset_dir / RUNTIME_FILE}: {exc}; rebuild it with `make lambda-asset`"
        ) from None


def read_settings(path: Path) -> AmiStateSettings:
    """Settings from a JSON file such as ``presets.json``."""
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a JSON object")
    return load_settings(data)


def build_app(app: App, settings: AmiStateSettings, asset_dir: Path) -> AmiStateStack:
    """Add the stack to ``app`` (named by the ``stackName`` context, default ``AmiState``)."""
    name = app.node.try_get_context("stackName") or "AmiState"
    return AmiStateStack(app, str(name), settings=settings, asset_dir=asset_dir)


__all__ = [
    "RUNTIME_FILE",
    "AmiStateStack",
    "build_app",
    "lambda_code",
    "lambda_runtime",
    "read_settings",
    "runtime_name",
]
