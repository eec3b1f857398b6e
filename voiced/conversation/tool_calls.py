"""The model's function calls under way, each with the user turn it belongs to."""

from __future__ import annotations

from .actions import Action, CallTool, Publish

EVENT_ARGUMENTS_CHARS = 4096
"""How much of a tool call's arguments `tool.called` shows (the tool gets all of them)."""


class ToolCalls:
    """Calls started and not yet finished; true while there is one."""

    def __init__(self) -> None:
        self._turns: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self._turns)

    def start(self, call_id: str, name: str, arguments: str, turn: int) -> list[Action]:
        """Run the call as part of user turn `turn`; it is reported as `tool.called`."""
        self._turns[call_id] = turn
        shown = arguments[:EVENT_ARGUMENTS_CHARS]  # every listener and subscriber gets a copy
        return [Publish("tool.called", {"call_id": call_id, "name": name, "arguments": shown}),
                CallTool(call_id, name, arguments)]

    def finish(self, call_id: str) -> int | None:
        """The turn of a call that was running (None: unknown, or forgotten by `clear`)."""
        return self._turns.pop(call_id, None)

    def clear(self) -> None:
        self._turns.clear()
