"""In-memory :class:`amistate.ports.Accounts`: target accounts for the tests and the demo."""

from __future__ import annotations

from typing import Any

from amistate.errors import AccountUnreachable
from amistate_adapters.memory import MemoryParameterStore


class MemoryAccounts:
    """:class:`amistate.ports.Accounts` in memory: a parameter store and an image
    store per (account, region), made on first use; ``denied`` accounts raise
    :class:`~amistate.errors.AccountUnreachable` as a refused role does."""

    def __init__(self, role: str = "amistate-target") -> None:
        self.role = role
        self.denied: set[str] = set()
        self.stores: dict[tuple[str, str], MemoryParameterStore] = {}
        self.images: dict[tuple[str, str], Any] = {}

    def _check(self, account: str) -> None:
        if account in self.denied:
            role = f"arn:aws:iam::{account}:role/{self.role}"
            raise AccountUnreachable(account, role, "AssumeRole: AccessDenied")

    def parameters(self, account: str, region: str) -> MemoryParameterStore:
        self._check(account)
        return self.stores.setdefault((account, region), MemoryParameterStore(region))

    def machines(self, account: str, region: str) -> Any:
        from amistate_adapters.memory_inventory import MemoryMachineImages

        self._check(account)
        return self.images.setdefault((account, region), MemoryMachineImages(region, account))


__all__ = ["MemoryAccounts"]
