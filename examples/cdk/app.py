#!/usr/bin/env python3
"""The amistate CDK app: ``cdk deploy`` from this folder (see docs/getting-started.md).

The build stack, and with ``targetAccounts`` in the settings one ``AmiStateTarget-<account>``
stack per runners' account, deployed first (README.md, "Runners in other accounts").

Context (``-c key=value`` or ``cdk.json``):

* ``presets``: the settings file, default ``presets.json`` next to this file;
* ``assetDir``: the Lambda package built by ``make lambda-asset``, default
  ``<repository>/.lambda-asset``;
* ``stackName``: default ``AmiState``;
* ``nag``: ``false`` to skip the cdk-nag AwsSolutions checks at synth;
* ``reconcileSchedule``, ``amiMaxAgeDays``, ``alarmEmail``: override the
  settings file's (the reconciler's schedule, the AMI age alarm's threshold,
  an e-mail address subscribed to the alarm topic).
"""

from __future__ import annotations

import sys
from pathlib import Path

# amistate_cdk first: importing it quiets jsii's Node.js banner before jsii starts.
from amistate_cdk import SettingsError, build_app, read_settings

# isort: split
from aws_cdk import App, Validations

HERE = Path(__file__).resolve().parent


def main(app: App | None = None) -> None:
    """Synthesize ``app`` (a new ``App()``, whose context the CDK CLI sets).

    Invalid settings (the file, its fields, the context overrides) end the
    process with one line naming the file or the key, and no traceback.
    """
    app = app or App()
    asset_dir = app.node.try_get_context("assetDir") or HERE.parent.parent / ".lambda-asset"
    try:
        settings = read_settings(HERE / str(app.node.try_get_context("presets") or "presets.json"))
        build_app(app, settings, Path(asset_dir))
    except SettingsError as exc:
        # One line naming the field, not a traceback (the CDK CLI shows stderr as is).
        sys.exit(f"error: invalid settings: {exc}")
    if str(app.node.try_get_context("nag")).lower() != "false":
        from cdk_nag import AwsSolutionsChecks

        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()


if __name__ == "__main__":
    main()
