"""The event bus: the daemon publishes, listeners (socket subscribers, plugins) hear.

Publishing never waits: listeners are called in turn and must only queue the event.
The queues are theirs and bounded (a socket subscriber's in `control.connection`, a
plugin's in the plugin host), so a stuck reader costs memory up to its bound and
nothing else: not the audio, not the other readers. A listener that raises is removed.
"""

from __future__ import annotations

import logging
import time
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
        self.published = 0

    def publish(self, type_: str, data: dict[str, Any] | None = None) -> Event:
        event = Event(type_, data or {})
        self.published += 1
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener %r failed on %s; removed", listener, event.type)
                self.unlisten(listener)
        return event

    def listen(self, listener: Listener) -> None:
        """Call `listener(event)` synchronously for every event; it must never block."""
        self._listeners.append(listener)

    def unlisten(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

