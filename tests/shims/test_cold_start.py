"""The shim modules import neither boto3 nor the adapters: a cold start pays for them only at
the first invocation (and an ignored event never needs more than that)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_importing_the_entry_points_loads_no_boto3() -> None:
    script = textwrap.dedent(
        """
        import sys
        import amistate.shims.lambda_handler, amistate.shims.custom_resource
        heavy = sorted(
            m for m in sys.modules
            if m.split(".")[0] in ("boto3", "botocore", "amistate_adapters")
        )
        print(heavy)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
