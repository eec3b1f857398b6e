"""The event bus: the daemon publishes, listeners (socket subscribers, plugins) hear.

Publishing never waits: listeners are called in turn and must only queue the event.
The queues are theirs and bounded (a socket subscriber's in `control.connection`, a
plugin's in the plugin host), so a stuck reader costs memory up to its bound and
nothing else: not the audio, not the other readers. A listener that raises is removed.

A listener may publish (the usage listener follows `assistant.response.done` with
`usage.updated`): such an event waits until every listener has heard the current one,
so all listeners hear all events in the order they were published.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("voiced.bus")

Listener = Callable[["Event"], None]


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)

    def matches(self, topics: frozenset[str]) -> bool:
        """Topics are prefixes of event types: `user` and `user.transcript` both match
        `user.transcript.completed`; no topics means everything."""
        if not topics:
            return True
        return any(self.type == t or self.type.startswith(t + ".") for t in topics)


class Bus:
    """Fan-out of events to subscriptions; call only from the trio thread."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._pending: deque[Event] = deque()
        self._delivering = False
        self.published = 0

    def publish(self, type_: str, data: dict[str, Any] | None = None) -> Event:
        """Hand `event` to every listener; from inside a listener, once the current event is done."""
        event = Event(type_, data or {})
        self.published += 1
        self._pending.append(event)
        if not self._delivering:
            self._deliver()
        return event

    def _deliver(self) -> None:
        self._delivering = True
        try:
            while self._pending:
                event = self._pending.popleft()
                for listener in tuple(self._listeners):
                    try:
                        listener(event)
                    except Exception:
                        log.exception("event listener %r failed on %s; removed", listener, event.type)
                        self.unlisten(listener)
        finally:
            self._delivering = False

    def listen(self, listener: Listener) -> None:
        """Call `listener(event)` synchronously for every event; it must never block."""
        self._listeners.append(listener)

    def unlisten(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

