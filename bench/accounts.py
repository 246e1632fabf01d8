"""Target accounts (issues 22 and 24): AWS calls per success event with 1 and 3 of them.

Each target account is reached as the Lambda reaches it: STS ``AssumeRole`` on the
bench server (moto), then SSM with the role's credentials; moto keeps each
account's parameters apart, and the server counts every request with the account
whose credentials signed it (bench/server.py). GetImage lists each build's copy in
each target account with its ``accountId``; every target account already holds the
preset's parameter (its runners read it), as the home account does.

For each number of target accounts, two presets listing those accounts: a *cold*
invocation (a new runtime: no cached pipeline mapping, no role credentials) of the
first preset's success, then a *warm* one of the second's in the same container
(its mapping cached, the roles' credentials kept). Afterwards every account's
parameter must hold that account's copy.

Budget (issue 24, deliverable 2): a success costs at most :data:`HOME_BUDGET` calls,
plus per target account and region its parameter's calls (``GetParameter``,
``PutParameter``), plus at most one ``AssumeRole`` per account per cold start; and
exactly one SSM write per account and region.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from attrs import frozen

from bench.calls import eb
from bench.common import REGION, TARGET_ACCOUNTS, pipeline_arn, table
from bench.server import ACCOUNT, BenchServer, ami_of_build
from bench.world import World, environment, preset_build, preset_name

TABLE = "amistate-accounts"
COUNTS = (1, 3)
#: A success via EventBridge in the home account (the calls section's budget).
HOME_BUDGET = 6
#: Calls of one target account's parameter in one region: GetParameter, PutParameter.
PER_ACCOUNT_REGION = 2
#: Regions the bench's presets write (the home region).
REGIONS = 1

Call = tuple[str, str]  # (service:Operation, account)


@frozen
class Invocation:
    kind: str  # "cold" or "warm"
    calls: list[Call]
    logged_calls: int | None  # the handler's awsCalls

    @property
    def operations(self) -> list[str]:
        return [call for call, _ in self.calls]


@frozen
class AccountsRow:
    accounts: tuple[str, ...]
    cold: Invocation
    warm: Invocation
    decisions: tuple[str, str]
    wrong: tuple[str, ...]  # "preset/account" whose parameter does not hold its AMI

    def budget(self, invocation: Invocation) -> int:
        n = len(self.accounts)
        assume = n if invocation.kind == "cold" else 0
        return HOME_BUDGET + PER_ACCOUNT_REGION * n * REGIONS + assume

    def holds(self, invocation: Invocation) -> bool:
        """Within the budget, one SSM write per account and region, each target account's
        calls only its parameter's (and its AssumeRole)."""
        n = len(self.accounts)
        ops = invocation.operations
        per_account = Counter(account for call, account in invocation.calls)
        assumes = ops.count("sts:AssumeRole")
        return (
            len(ops) <= self.budget(invocation)
            and ops.count("ssm:PutParameter") == (1 + n) * REGIONS
            and assumes <= (n if invocation.kind == "cold" else 0)
            and all(
                per_account[a] <= PER_ACCOUNT_REGION * REGIONS
                for a in self.accounts  # AssumeRole is the home account's STS call
            )
            and not self.wrong
        )


def budget_text(accounts: int, kind: str) -> str:
    assume = f" + {accounts} AssumeRole" if kind == "cold" else ""
    total = HOME_BUDGET + PER_ACCOUNT_REGION * accounts * REGIONS
    total += accounts if kind == "cold" else 0
    return (
        f"≤ {total} ({HOME_BUDGET} + {PER_ACCOUNT_REGION} x {accounts} account(s){assume}), "
        f"exactly {(1 + accounts) * REGIONS} SSM writes"
    )


def measure(server: BenchServer) -> list[AccountsRow]:
    """For 1 and 3 target accounts: a cold and a warm success; the calls by account."""
    from amistate.shims import runtime

    rows: list[AccountsRow] = []
    with environment({**server.env(), "AMISTATE_TABLE": TABLE}):
        world = World(TABLE, TABLE + "-baseline")
        try:
            world.create_tables()
            for n, count in enumerate(COUNTS):
                accounts = TARGET_ACCOUNTS[:count]
                cold, warm = 2 * n + 1, 2 * n + 2
                events = {i: eb(i, 1) for i in (cold, warm)}
                server.copies({preset_name(i): accounts for i in events})
                server.outcomes(events.values())
                for index in events:
                    world.add_preset(index, accounts=accounts)
                server.calls()
                cold_line = world.amistate(events[cold], cold=True)
                cold_calls = server.account_calls()
                catalog = runtime.get(None).service.catalog
                catalog.presets_for_pipeline(pipeline_arn(preset_name(warm)))
                server.calls()
                warm_line = world.amistate(events[warm])
                warm_calls = server.account_calls()
                rows.append(
                    AccountsRow(
                        accounts,
                        Invocation("cold", cold_calls, _logged(cold_line)),
                        Invocation("warm", warm_calls, _logged(warm_line)),
                        (str(cold_line.get("decision")), str(warm_line.get("decision"))),
                        _wrong(world, tuple(events), accounts),
                    )
                )
        finally:
            world.close()
    return rows


def _logged(line: dict[str, Any]) -> int | None:
    found = line.get("awsCalls")
    return found if isinstance(found, int) else None


def _wrong(world: World, presets: Sequence[int], accounts: Sequence[str]) -> tuple[str, ...]:
    wrong = []
    for index in presets:
        for account in (ACCOUNT, *accounts):
            want = ami_of_build(preset_build(index, 1), REGION, account)
            held = world.parameter(index, account=None if account == ACCOUNT else account)
            if held.get("amiId") != want:
                wrong.append(f"{preset_name(index)}/{account}")
    return tuple(wrong)


def check(rows: Sequence[AccountsRow]) -> list[str]:
    """Inconsistencies that mean the measurement (or amistate) is wrong."""
    problems = []
    for row in rows:
        for invocation in (row.cold, row.warm):
            counted = len(invocation.calls)
            if invocation.logged_calls is not None and invocation.logged_calls != counted:
                problems.append(
                    f"accounts: {len(row.accounts)} target account(s), {invocation.kind}: the "
                    f"handler logged awsCalls={invocation.logged_calls}, the server saw {counted}"
                )
        if row.wrong:
            problems.append(f"accounts: parameters without their account's AMI: {row.wrong}")
    return problems


def _by_operation(calls: Sequence[Call], account: str) -> str:
    ops = Counter(call.partition(":")[2] for call, found in calls if found == account)
    return ", ".join(f"{op} {n}" for op, n in sorted(ops.items())) or "—"


def render(rows: Sequence[AccountsRow]) -> str:
    summary = []
    detail = []
    for row in rows:
        for invocation in (row.cold, row.warm):
            ops = invocation.operations
            summary.append(
                (
                    len(row.accounts),
                    invocation.kind,
                    len(ops),
                    budget_text(len(row.accounts), invocation.kind),
                    "yes" if row.holds(invocation) else "**no**",
                    ops.count("sts:AssumeRole"),
                    f"{sum(c == 'ssm:GetParameter' for c in ops)} / "
                    f"{ops.count('ssm:PutParameter')}",
                )
            )
            for account in (ACCOUNT, *row.accounts):
                detail.append(
                    (
                        len(row.accounts),
                        invocation.kind,
                        "home" if account == ACCOUNT else account,
                        _by_operation(invocation.calls, account),
                    )
                )
    intro = (
        "A success via EventBridge of a preset with target accounts, each reached through "
        "STS `AssumeRole` on moto's server (which keeps each account apart); calls counted "
        "by the server with the account whose credentials signed them. *cold*: a new runtime "
        "(no cached mapping, no role credentials); *warm*: another preset of the same accounts "
        "in the same container. Every account's parameter then holds that account's copy."
    )
    return (
        intro
        + "\n\n"
        + table(
            [
                "target accounts",
                "invocation",
                "calls",
                "budget",
                "holds",
                "AssumeRole",
                "SSM reads / writes",
            ],
            summary,
        )
        + "\n\nBy account (the role's `AssumeRole` is the home account's STS call):\n\n"
        + table(["target accounts", "invocation", "account", "calls by operation"], detail)
    )


def run(server: BenchServer) -> tuple[str, list[AccountsRow]]:
    rows = measure(server)
    return render(rows), rows


__all__ = ["COUNTS", "AccountsRow", "check", "measure", "render", "run"]
