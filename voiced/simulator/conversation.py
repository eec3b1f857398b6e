"""The conversation as the service keeps it: ordered items and what each one holds.

Items are stored in their GA wire shape plus what the simulator needs to know about
them: the audio the user spoke (so it can be echoed), how much assistant audio was
sent (a truncation may not reach past it), and how much of it the model counts as
heard (after a truncation).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from voiced.simulator.audio import duration_ms, encode_base64


@dataclass
class Item:
    """One conversation item."""

    wire: dict[str, Any]
    text: str = ""
    audio: bytes = b""
    sent_ms: int = 0
    truncated_ms: int | None = None
    has_audio: bool = False

    @property
    def id(self) -> str:
        return str(self.wire["id"])

    @property
    def role(self) -> str | None:
        return self.wire.get("role")

    @property
    def heard_ms(self) -> int:
        """Audio the model counts as part of the conversation."""
        spoken = self.sent_ms if self.role == "assistant" else duration_ms(self.audio)
        return spoken if self.truncated_ms is None else min(spoken, self.truncated_ms)

    def snapshot(self, *, with_audio: bool = False) -> dict[str, Any]:
        """A copy of the wire shape, optionally with the user's audio (for retrieve)."""
        wire = copy.deepcopy(self.wire)
        if with_audio and self.audio and wire.get("content"):
            wire["content"][0]["audio"] = encode_base64(self.audio)
        return wire


@dataclass
class Conversation:
    """Ordered items of one session's default conversation."""

    id: str
    _items: list[Item] = field(default_factory=list)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    def get(self, item_id: str) -> Item | None:
        return next((item for item in self._items if item.id == item_id), None)

    def last_id(self) -> str | None:
        return self._items[-1].id if self._items else None

    def add(self, item: Item, previous_item_id: str | None = None) -> str | None:
        """Insert after `previous_item_id` (``"root"``: first; None: last); return its predecessor.

        Raises KeyError when `previous_item_id` names no item.
        """
        if previous_item_id is None:
            index = len(self._items)
        elif previous_item_id == "root":
            index = 0
        else:
            before = self.get(previous_item_id)
            if before is None:
                raise KeyError(previous_item_id)
            index = self._items.index(before) + 1
        self._items.insert(index, item)
        return self._items[index - 1].id if index else None

    def delete(self, item_id: str) -> bool:
        item = self.get(item_id)
        if item is None:
            return False
        self._items.remove(item)
        return True

    def before(self, item_id: str) -> list[Item]:
        """The items that precede `item_id` (all of them when it is not present)."""
        for index, item in enumerate(self._items):
            if item.id == item_id:
                return self._items[:index]
        return list(self._items)

    def last_user_item(self) -> Item | None:
        return next((item for item in reversed(self._items) if item.role == "user"), None)


def item_text(wire: dict[str, Any]) -> str:
    """The words an item carries, for echoing and counting tokens."""
    if wire.get("type") == "function_call":
        return f"{wire.get('name', '')}{wire.get('arguments', '')}"
    if wire.get("type") == "function_call_output":
        return str(wire.get("output", ""))
    parts = wire.get("content") or []
    return " ".join(
        str(part.get("text") or part.get("transcript") or "") for part in parts if isinstance(part, dict)
    ).strip()
