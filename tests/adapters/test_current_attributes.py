"""``StateStore.current`` projects what :func:`to_state` reads, the history aside.

A new attribute read by ``to_state`` but missing from ``CURRENT_ATTRIBUTES``
would vanish from every converge's confirm: this catches it before any record
has it.
"""

from __future__ import annotations

from typing import Any

from amistate_adapters.dynamodb.items import CURRENT_ATTRIBUTES, to_state


class Recording(dict[str, Any]):
    """An item that remembers which attributes were asked for."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def test_to_state_reads_only_the_projected_attributes_and_the_history() -> None:
    item = Recording({"PK": {"S": "AMI#p"}, "SK": {"S": "LATEST"}})
    to_state(item)
    assert item.asked - {"history"} <= set(CURRENT_ATTRIBUTES)
    assert "history" in item.asked and "history" not in CURRENT_ATTRIBUTES
    assert len(set(CURRENT_ATTRIBUTES)) == len(CURRENT_ATTRIBUTES)
