"""The responses the conversation wants: asked for in order, one at a time.

A response can be asked for only while none is under way, so the ones wanted meanwhile
(a typed turn's answer, an announcement, the answer after a tool's output) wait here in
the order they were wanted. Each `response.create` sent is remembered by its event id
with its instructions, so one the server refuses is asked for again as it was.
"""

from __future__ import annotations

from collections import OrderedDict, deque

WAITING = 16
"""Responses that may wait; past that the oldest is dropped."""
REMEMBERED = 16
"""How many `response.create` sent are remembered for their errors."""


class WantedResponses:
    """Responses waiting to be asked for (true while there is one), and those asked for."""

    def __init__(self) -> None:
        self._waiting: deque[str | None] = deque(maxlen=WAITING)
        self._asked: OrderedDict[str, str | None] = OrderedDict()

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def want(self, instructions: str | None = None) -> None:
        """Want a response (an instructed one with `instructions`) after those waiting.

        A plain response right behind another plain one is the same answer: it is not doubled."""
        if instructions is None and self._waiting and self._waiting[-1] is None:
            return
        self._waiting.append(instructions)

    def take(self) -> str | None:
        """The instructions of the next response to ask for, no longer waiting."""
        return self._waiting.popleft()

    def asked(self, event_id: str, instructions: str | None) -> None:
        """A `response.create` with `instructions` went out as `event_id`."""
        self._asked[event_id] = instructions
        while len(self._asked) > REMEMBERED:
            self._asked.popitem(last=False)

    def refused(self, event_id: str | None, *, retry: bool) -> bool:
        """The server refused `event_id`: whether it was a `response.create` of ours. With
        `retry` it is wanted again, before those waiting (it was wanted first)."""
        if event_id is None or event_id not in self._asked:
            return False
        instructions = self._asked.pop(event_id)
        if retry:
            self._waiting.appendleft(instructions)
        return True

    def clear(self) -> None:
        self._waiting.clear()
        self._asked.clear()
