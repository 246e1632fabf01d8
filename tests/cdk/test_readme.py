"""examples/cdk/README.md works as written, offline, and no jsii banner is printed.

The README's command blocks are run as written from the repository root (the
deploy block without its two ``npx cdk`` commands that call AWS), with no AWS
credentials in the environment: ``make synth`` must build what it needs and
synthesize the stack, and the CDK CLI must be the one package.json pins.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.cdk.synth import ROOT

README = ROOT / "examples" / "cdk" / "README.md"
TEMPLATE = ROOT / "examples" / "cdk" / "cdk.out" / "AmiState.template.json"
#: Lines of the deploy block that need an AWS account.
CALLS_AWS = ("npx cdk bootstrap", "npx cdk deploy")
BANNER = re.compile(r"end-of-life|!!\s|^b'", re.MULTILINE)
#: What npm and the CDK CLI print about themselves (notices, warnings, nags): each must be
#: one the README explains, or silenced.
NOTICE = re.compile(r"^.*(?:npm (?:notice|warn)|NOTICES|feature flags are not configured).*$", re.M)


def sh_blocks(section: str) -> list[list[str]]:
    """The ```sh blocks of ``## <section>``, as lists of command lines."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README has no section {section!r}"
    return [
        [line.strip() for line in block.splitlines() if line.strip()]
        for block in re.findall(r"```sh\n(.*?)```", match.group(1), re.S)
    ]


def offline_env() -> dict[str, str]:
    """This environment without AWS credentials, profiles, or jsii's banner switches."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "JSII_SILENCE_", "CDK_"))
    }
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def run(script: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=offline_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_the_readme_commands_synthesize_the_stack_with_the_pinned_cli() -> None:
    (synth,) = sh_blocks("Synthesize (offline, no AWS account)")
    assert synth == ["make synth"]
    (deploy,) = sh_blocks("Deploy")
    assert deploy[: len(synth)] == synth, "deploy starts with the synth commands"
    runnable = [line for line in deploy if not line.startswith(CALLS_AWS)]
    assert len(deploy) - len(runnable) == len(CALLS_AWS)
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]

    started = time.time()
    # Every runnable line, then what the two AWS commands rely on: the CLI from
    # node_modules (--no-install: never downloaded) and the venv's CDK library.
    script = "\n".join(
        [*runnable, "npx --no-install cdk --version", "python3 -c 'import amistate_cdk, cdk_nag'"]
    )
    result = run(script)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Traceback" not in output
    assert not BANNER.search(output), output[-4000:]
    assert re.search(rf"^{re.escape(pinned)}\b", result.stdout, re.M), result.stdout[-500:]
    explained = re.sub(r"\d+", "N", README.read_text(encoding="utf-8"))
    unexplained = [
        line.strip()
        for line in NOTICE.findall(output)
        if re.sub(r"\d+", "N", line.strip()) not in explained
    ]
    assert unexplained == [], "printed, and examples/cdk/README.md does not say why"

    assert TEMPLATE.stat().st_mtime >= started, "make synth wrote a fresh template"
    template = json.loads(TEMPLATE.read_text())
    handlers = sorted(
        r["Properties"]["Handler"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Handler"].startswith("amistate")
    )
    assert handlers == [
        "amistate.shims.custom_resource.on_event",
        "amistate.shims.lambda_handler.handler",
        "amistate.shims.reconcile.handler",
    ]
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert {
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::ImageBuilder::LifecyclePolicy",
        "AWS::SNS::Topic",
    } <= kinds
    assert {"TableName", "DashboardUrl", "ReconcileFunctionName"} <= set(template["Outputs"])
    # The runtime declared is the one make lambda-asset wrote for its bytecode.
    runtime = (ROOT / ".lambda-asset" / "RUNTIME").read_text().strip()
    runtimes = {
        r["Properties"]["Runtime"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Handler"].startswith("amistate")
    }
    assert runtimes == {runtime}


def _node_major() -> int:
    version = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=True
    ).stdout
    return int(version.strip().lstrip("v").split(".")[0])


def test_importing_the_example_prints_no_jsii_banner() -> None:
    """What ``make test`` and every synth start: jsii, through the example's package."""
    quiet = run(f"{sys.executable} -c 'import examples.cdk.amistate_cdk, aws_cdk'")
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert not BANNER.search(quiet.stdout + quiet.stderr), quiet.stderr[-2000:]
    if _node_major() in (18, 20):
        # On these Node.js versions jsii does print it: the silencing is what hides it.
        loud = run(f"{sys.executable} -c 'import aws_cdk'")
        assert BANNER.search(loud.stderr), "expected jsii's banner without the switches"
