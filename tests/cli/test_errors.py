"""Errors a user can act on (issue 15): each names the value, why it is wrong, and what to check.

Against moto's server (tests/cli/conftest.py ``cli``): a missing table and a
table in another region are DynamoDB's ``ResourceNotFoundException``, which
amistate reports as :class:`amistate.errors.TableNotFound`.
"""

from __future__ import annotations

import pytest

from amistate.errors import TableNotFound, is_permanent
from tests.cli.conftest import Cli
from tests.servers import REGION

OTHER_REGION = "eu-central-1"


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("command", [("status",), ("history", "linux-x64"), ("reconcile",)])
def test_a_missing_table_names_the_table_the_region_and_what_to_check(
    cli: Cli, command: tuple[str, ...]
) -> None:
    done = cli.run(*command, "--table", "no-such-table")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert _one_line(done.stderr) == (
        f"amistate: error: DynamoDB table 'no-such-table' not found in region {REGION}: "
        "check the table name (AMISTATE_TABLE / --table), the region (AWS_REGION / --region) "
        "and the AWS account of the credentials (the table must be the stack's, in its account "
        "and region)"
    )
    assert "Requested resource not found" not in done.stderr


def test_the_right_table_in_the_wrong_region_names_that_region(cli: Cli) -> None:
    cli.init("linux-x64")
    done = cli.run("status", "--region", OTHER_REGION)
    assert done.returncode == 2, (done.stdout, done.stderr)
    line = _one_line(done.stderr)
    assert f"DynamoDB table {cli.table!r} not found in region {OTHER_REGION}:" in line
    assert "AWS_REGION / --region" in line


def test_the_lambda_logs_the_missing_table_as_a_permanent_error(cli: Cli) -> None:
    """The exception the state Lambda logs (``error``/``message``): the same sentence."""
    from amistate_adapters.dynamodb import DynamoStateStore

    store = DynamoStateStore("no-such-table", cli.table_endpoint.dynamodb())
    with pytest.raises(TableNotFound) as caught:
        store.get("linux-x64")
    assert is_permanent(caught.value)
    assert (caught.value.table, caught.value.region) == ("no-such-table", REGION)
    assert str(caught.value).startswith(
        f"DynamoDB table 'no-such-table' not found in region {REGION}: check"
    )


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        (
            "--region",
            "US West 2",
            "amistate: error: --region 'US West 2': not an AWS region name (expected the "
            "region's code, such as us-west-2 or eu-west-1)",
        ),
        (
            "--table",
            "t",
            "amistate: error: --table 't': not a DynamoDB table name: 1 character long (a name "
            "is 3-255 characters of A-Z a-z 0-9 _ . -, or pass the table's ARN)",
        ),
        (
            "--table",
            "ami state",
            "amistate: error: --table 'ami state': not a DynamoDB table name: ' ' not allowed "
            "(a name is 3-255 characters of A-Z a-z 0-9 _ . -, or pass the table's ARN)",
        ),
        (
            "--table",
            "arn:aws:dynamodb:us-west-2:table/x",
            "amistate: error: --table 'arn:aws:dynamodb:us-west-2:table/x': not a DynamoDB "
            "table ARN (expected arn:aws:dynamodb:<region>:<12-digit account>:table/<name>)",
        ),
    ],
)
def test_an_invalid_flag_says_why_and_the_expected_form(
    cli: Cli, flag: str, value: str, expected: str
) -> None:
    done = cli.run("status", flag, value)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert _one_line(done.stderr) == expected


def test_an_invalid_region_variable_is_named_with_the_expected_form(cli: Cli) -> None:
    done = cli.run("status", env={**cli.env, "AWS_REGION": "US West 2"})
    assert done.returncode == 2, (done.stdout, done.stderr)
    line = _one_line(done.stderr)
    assert "AWS_REGION='US West 2': not an AWS region name" in line
    assert "such as us-west-2" in line
    assert "environment" not in line


def test_import_amistate_then_amistate_read_works(cli: Cli) -> None:
    """The README's ``amistate.read``: a fresh interpreter, ``import amistate`` only."""
    import subprocess
    import sys

    code = "import amistate; print(amistate.read.latest.__name__, amistate.read.__name__)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["latest", "amistate.read"]
