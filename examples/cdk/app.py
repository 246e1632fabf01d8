#!/usr/bin/env python3
"""The amistate CDK app: ``cdk deploy`` from this folder (see docs/getting-started.md).

Context (``-c key=value`` or ``cdk.json``):

* ``presets``: the settings file, default ``presets.json`` next to this file;
* ``assetDir``: the Lambda package built by ``make lambda-asset``, default
  ``<repository>/.lambda-asset``;
* ``stackName``: default ``AmiState``;
* ``nag``: ``false`` to skip the cdk-nag AwsSolutions checks at synth.
"""

from __future__ import annotations

from pathlib import Path

from amistate_cdk import build_app, read_settings
from aws_cdk import App, Validations

HERE = Path(__file__).resolve().parent


def main() -> None:
    app = App()
    settings = read_settings(HERE / str(app.node.try_get_context("presets") or "presets.json"))
    asset_dir = app.node.try_get_context("assetDir") or HERE.parent.parent / ".lambda-asset"
    build_app(app, settings, Path(asset_dir))
    if str(app.node.try_get_context("nag")).lower() != "false":
        from cdk_nag import AwsSolutionsChecks

        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()


if __name__ == "__main__":
    main()
