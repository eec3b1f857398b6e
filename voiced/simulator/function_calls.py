"""A response that asks the client to call a function, streamed like any other response.

Its one output item is a ``function_call`` (name, ``call_id``, JSON arguments); the
arguments arrive in a few ``response.function_call_arguments.delta`` events, then
``.done``, then the item and ``response.done``. The client runs the function, adds a
``function_call_output`` item with the same ``call_id`` and asks for a new response.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from voiced.simulator.conversation import Item
from voiced.simulator.ids import new_id
from voiced.simulator.responses import TEXT_STEP_S, Modality, ResponsePlan, ResponseStream, Step
from voiced.simulator.usage import Tokens

#: Characters of arguments per delta...
ARGUMENTS_CHUNK = 16
#: ...in at most this many deltas: long arguments come in longer pieces, not forever.
MAX_ARGUMENT_DELTAS = 32


def arguments_json(arguments: dict[str, Any] | str) -> str:
    """Arguments as the wire carries them: a JSON string (a string is taken as JSON already)."""
    return arguments if isinstance(arguments, str) else json.dumps(arguments, separators=(",", ":"))


def declared_function(tools: list[dict[str, Any]], tool_choice: Any, name: str) -> bool:
    """Whether the session lets the model call function `name`."""
    if tool_choice == "none":
        return False
    return any(tool.get("type") == "function" and tool.get("name") == name for tool in tools or [])


def function_call_item(name: str) -> Item:
    """A new, empty function call item with a fresh ``call_id``."""
    return Item(
        wire={
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": name,
            "call_id": new_id("call"),
            "arguments": "",
        },
        text=name,
    )


class FunctionCallStream(ResponseStream):
    """The lifecycle of a response whose output is one function call."""

    def __init__(
        self,
        *,
        name: str,
        arguments: str,
        modality: Modality,
        item: Item,
        response_id: str,
        conversation_id: str,
        input_tokens: Tokens,
        audio_format: dict[str, Any],
        voice: Any,
        new_event_id: Callable[[], str],
    ) -> None:
        super().__init__(
            plan=ResponsePlan(modality, ""),
            item=item,
            response_id=response_id,
            conversation_id=conversation_id,
            input_tokens=input_tokens,
            audio_format=audio_format,
            voice=voice,
            new_event_id=new_event_id,
        )
        self.name = name
        self.arguments = arguments
        chunk = max(ARGUMENTS_CHUNK, math.ceil(len(arguments) / MAX_ARGUMENT_DELTAS))
        self._pieces = [arguments[start : start + chunk] for start in range(0, len(arguments), chunk)] or [""]

    def start_events(self, previous_item_id: str | None) -> list[dict[str, Any]]:
        """`response.created` through `conversation.item.added` (a call has no content part)."""
        return super().start_events(previous_item_id)[:-1]

    def step(self) -> Step:
        piece = self._pieces[self._next_chunk]
        self._next_chunk += 1
        self._text_sent += piece
        self.item.wire["arguments"] = self._text_sent
        self.item.text = self.name + self._text_sent
        common = self._call_common()
        events = []
        if piece:
            events.append(self._event("response.function_call_arguments.delta", **common, delta=piece))
        if self._next_chunk >= len(self._pieces):
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    **common,
                    name=self.name,
                    arguments=self._text_sent,
                )
            )
            events += self._finish("completed", "completed", None)
        return Step(events, TEXT_STEP_S)

    @property
    def _audio(self) -> bool:
        return False

    def _finish(self, item_status: str, status: str, reason: str | None) -> list[dict[str, Any]]:
        return self._close(item_status, status, reason)  # a call has no content part to close

    def _call_common(self) -> dict[str, Any]:
        return {
            "response_id": self.id,
            "item_id": self.item.id,
            "output_index": 0,
            "call_id": self.item.wire["call_id"],
        }
