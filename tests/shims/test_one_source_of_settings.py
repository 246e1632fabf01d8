"""Issue 20, point 3: one source of settings, whatever the entry point.

:data:`SOURCES` names where every field of :class:`~amistate.core.settings.Settings`
comes from and a value other than its default. For each field, that source
alone is changed, then every entry point is run as it is deployed: the state
Lambda, the reconcile Lambda and the custom resource (each building its runtime
at its first invocation), the CLI (``amistate.cli.main.main``) and
``amistate.read``. Each must end up with the value. A field added to Settings
fails :func:`test_every_field_has_a_source` until it gets a source here, and
then this test checks that every entry point reads it.

The code before the change (0864f6a) failed both: Settings had a field no
entry point could set (``any_region``), and the CLI, which built its settings
by hand, had ``history_limit`` 20 where the functions had 37.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from amistate_adapters.memory import memory_ports

from amistate import read
from amistate.cli.main import main
from amistate.core.settings import Settings
from amistate.errors import TableNotFound
from amistate.shims import custom_resource, lambda_handler, reconcile, runtime
from amistate.wiring import compose
from tests.shims.conftest import Aws
from tests.shims.fakes import Context, sample

OTHER_REGION = "eu-west-1"
#: A function of another account and partition than the fixtures' (Context's default).
FUNCTION_ARN = "arn:aws-cn:lambda:cn-north-1:444455556666:function:amistate"
#: A pipeline no settings here trust (another region): the custom resource refuses it
#: before any write, after building its runtime.
FOREIGN_PIPELINE = "arn:aws:imagebuilder:ca-central-1:111122223333:image-pipeline/elsewhere"


@attrs.frozen
class Source:
    """Where a field comes from: an environment variable, or (``variable`` None)
    the function's own ARN, which Lambda passes in the context; ``text`` is what
    is set there and ``value`` the field it must give."""

    variable: str | None
    text: str
    value: Any


SOURCES: dict[str, Source] = {
    "home_region": Source("AWS_REGION", OTHER_REGION, OTHER_REGION),
    "account": Source(None, FUNCTION_ARN, "444455556666"),
    "partition": Source(None, FUNCTION_ARN, "aws-cn"),
    "parameter_prefix": Source("AMISTATE_PARAMETER_PREFIX", "/fleet/runners/", "/fleet/runners"),
    "extra_regions": Source(
        "AMISTATE_EXTRA_REGIONS", f" {OTHER_REGION},ap-south-1", (OTHER_REGION, "ap-south-1")
    ),
    "table": Source("AMISTATE_TABLE", "another-amistate-table", "another-amistate-table"),
    "history_limit": Source("AMISTATE_HISTORY_LIMIT", "37", 37),
    "ssm_write_rate": Source("AMISTATE_SSM_WRITE_RATE", " 1.5 ", 1.5),
    "deployment": Source("AMISTATE_DEPLOYMENT", "Runners-prod", "Runners-prod"),
    "target_role": Source("AMISTATE_TARGET_ROLE", "runners-amistate", "runners-amistate"),
}


def test_every_field_has_a_source_and_a_value_other_than_its_default() -> None:
    fields = {field.name: field for field in attrs.fields(Settings)}
    assert set(SOURCES) == set(fields), "a Settings field without a source, or a source too many"
    for name, source in SOURCES.items():
        assert source.value != fields[name].default, name


def _state_lambda(context: Context) -> None:
    event = sample("eventbridge-image-state-change-building.json")
    assert lambda_handler.handler(event, context) is None  # ignored: no AWS call


def _reconcile_lambda(context: Context) -> None:
    # No such table on moto (another table, or the home region moved): the settings were built.
    with contextlib.suppress(TableNotFound):
        reconcile.handler({}, context)


def _custom_resource(aws: Aws) -> Callable[[Context], None]:
    def invoke(context: Context) -> None:
        event = aws.resource_event("Create", pipeline=FOREIGN_PIPELINE)
        custom_resource.handler(event, context)
        (answer,) = aws.responses.all_received()
        assert answer.body["Status"] == "FAILED", answer.body  # refused: not our pipeline

    return invoke


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_entry_point_sees_every_setting(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    source = SOURCES[name]
    context = Context()
    if source.variable is None:
        context = Context(invoked_function_arn=source.text)
    else:
        monkeypatch.setenv(source.variable, source.text)
    seen: dict[str, Any] = {}
    lambdas = {
        "state Lambda": _state_lambda,
        "reconcile Lambda": _reconcile_lambda,
        "custom resource": _custom_resource(aws),
    }
    for entry_point, invoke in lambdas.items():
        runtime.reset()  # a cold start: the runtime is built at this first invocation
        invoke(context)
        seen[entry_point] = getattr(runtime.get(context).settings, name)

    # The CLI installs the runtime it builds; anything else left installed would show.
    elsewhere = Settings(home_region="ap-east-1")
    runtime.configure(compose.from_ports(elsewhere, memory_ports(elsewhere.regions)))
    main(["history", "linux-x64"])
    capsys.readouterr()
    seen["CLI"] = getattr(runtime.get(None).settings, name)
    read.reset()
    seen["amistate.read"] = getattr(read.Reader().settings(), name)

    # No function ARN outside Lambda: the CLI and the reader check no account (docs/cli.md).
    unowned = attrs.fields_dict(Settings)[name].default
    expected = {
        entry_point: source.value if source.variable or entry_point in lambdas else unowned
        for entry_point in seen
    }
    assert seen == expected
