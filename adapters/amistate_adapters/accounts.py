"""Target accounts on AWS: one assumed role per account, its credentials kept warm.

:class:`AssumedAccounts` is :class:`amistate.ports.Accounts`. For each target
account it makes one botocore session whose credentials come from
``sts:AssumeRole`` on ``arn:<partition>:iam::<account>:role/<AMISTATE_TARGET_ROLE>``
(:meth:`amistate.core.settings.Settings.target_role_arn`). The role is assumed
at the first call made in that account (a process that never reaches an
account never asks), and botocore's refreshable credentials assume it again
only shortly before they expire (15 minutes ahead), so a warm function pays one
``AssumeRole`` per account per hour. Clients of an account are made once per
service and region, at the endpoint the home clients use.

An ``AccessDenied`` answer, from STS or from a call made with the role,
becomes :class:`~amistate.errors.AccountUnreachable` naming the account and
the role: permanent for this event, and never a reason to stop the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from amistate.core.deadline import Deadline
from amistate.core.settings import Settings
from amistate.errors import AccountUnreachable
from amistate_adapters.clients import client_config
from amistate_adapters.errors import error_code

#: Error codes that mean "this account does not let amistate in".
DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure"}
)
SESSION_NAME = "amistate"


class AssumedAccounts:
    """:class:`amistate.ports.Accounts` through STS ``AssumeRole`` (module docstring)."""

    def __init__(
        self,
        settings: Settings,
        make: Callable[[str, str], Any],
        deadline: Deadline | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.settings = settings
        self._make = make
        self._deadline = deadline
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()
        self._sessions: dict[str, Any] = {}
        self._made: dict[tuple[str, str, str], Any] = {}
        #: Called with each new client (the runtime counts their calls).
        self.watch: Callable[[Any], None] | None = None

    def parameters(self, account: str, region: str) -> Any:
        from amistate_adapters.ssm import SsmParameterStore

        client = self.client(account, "ssm", region)
        return Guarded(SsmParameterStore(client, region, self._deadline), self, account)

    def machines(self, account: str, region: str) -> Any:
        from amistate_adapters.ec2 import Ec2MachineImages

        return Guarded(Ec2MachineImages(self.client(account, "ec2", region), region), self, account)

    def client(self, account: str, service: str, region: str) -> Any:
        """The client of ``service`` in ``region`` acting as the role in ``account``."""
        with self._lock:
            found = self._made.get((account, service, region))
            if found is None:
                found = self._session(account).client(
                    service,
                    region_name=region,
                    endpoint_url=self._endpoint_url,
                    config=client_config(),
                )
                self._made[(account, service, region)] = found
                if self.watch is not None:
                    self.watch(found)
            return found

    def _session(self, account: str) -> Any:
        session = self._sessions.get(account)
        if session is None:
            import boto3.session
            import botocore.session
            from botocore.credentials import DeferredRefreshableCredentials

            core = botocore.session.get_session()
            # botocore's own assume-role provider installs its credentials so.
            core._credentials = DeferredRefreshableCredentials(  # type: ignore[attr-defined]
                refresh_using=lambda: self._assume(account), method="sts-assume-role"
            )
            session = boto3.session.Session(botocore_session=core)
            self._sessions[account] = session
        return session

    def _assume(self, account: str) -> dict[str, str]:
        role = self.settings.target_role_arn(account)
        sts = self._sts()
        try:
            answer = sts.assume_role(RoleArn=role, RoleSessionName=SESSION_NAME)
        except ClientError as exc:
            if error_code(exc) in DENIED:
                raise AccountUnreachable(account, role, f"AssumeRole: {error_code(exc)}") from exc
            raise
        found = answer["Credentials"]
        return {
            "access_key": found["AccessKeyId"],
            "secret_key": found["SecretAccessKey"],
            "token": found["SessionToken"],
            "expiry_time": found["Expiration"].isoformat(),
        }

    def _sts(self) -> Any:
        with self._lock:
            found = self._made.get(("", "sts", self.settings.home_region))
            if found is None:
                found = self._make("sts", self.settings.home_region)
                self._made[("", "sts", self.settings.home_region)] = found
                if self.watch is not None:
                    self.watch(found)
            return found

    def denied(self, account: str, exc: ClientError, what: str) -> AccountUnreachable:
        role = self.settings.target_role_arn(account)
        return AccountUnreachable(account, role, f"{what}: {error_code(exc)}")


class Guarded:
    """A port of one target account whose denied calls raise AccountUnreachable."""

    def __init__(self, port: Any, accounts: AssumedAccounts, account: str) -> None:
        self._port = port
        self._accounts = accounts
        self._account = account

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._port, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return found(*args, **kwargs)
            except ClientError as exc:
                if error_code(exc) in DENIED:
                    raise self._accounts.denied(self._account, exc, name) from exc
                raise

        return call


__all__ = ["DENIED", "AssumedAccounts", "Guarded"]
