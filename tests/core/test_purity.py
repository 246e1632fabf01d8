"""The core never imports boto3 or botocore: proven by blocking them."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CORE = [
    "amistate",
    "amistate.core.arns",
    "amistate.errors",
    "amistate.core.events",
    "amistate.core.merge",
    "amistate.core.names",
    "amistate.core.parsing",
    "amistate.ports",
    "amistate.core.rules",
    "amistate.usecases.service",
    "amistate.core.state",
    "amistate.usecases.verify",
    "amistate_adapters.memory",
]


def test_core_runs_with_boto3_and_botocore_blocked() -> None:
    script = textwrap.dedent(
        f"""
        import importlib, sys
        from importlib.abc import MetaPathFinder

        class Block(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("boto3", "botocore", "s3transfer"):
                    raise ImportError("blocked: " + name)
                return None

        sys.meta_path.insert(0, Block())
        for module in {CORE!r}:
            importlib.import_module(module)
        from tests.core.world import event, make_world
        world = make_world()
        world.know(event(1))
        (outcome,) = world.service().handle(event(1))
        assert outcome.decision == "applied", outcome
        assert not any(m.split(".")[0] in ("boto3", "botocore") for m in sys.modules)
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
