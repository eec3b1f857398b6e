"""The event bus: the daemon publishes, listeners (socket subscribers, plugins) hear.

Publishing never waits: listeners are called in turn and must only queue the event.
The queues are theirs and bounded (a socket subscriber's in `control.connection`, a
plugin's in the plugin host), so a stuck reader costs memory up to its bound and
nothing else: not the audio, not the other readers. A listener that raises is logged and
kept (the daemon's own listeners must outlive one bad event); an event that is not well
formed is refused where it is published.

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


MAX_TYPE_LENGTH = 200


def check_event(type_: object, data: object) -> None:
    """Raise TypeError or ValueError, with what is wrong, unless `type_` is an event type (a
    non-empty printable string without spaces) and `data` a dict or None."""
    if not isinstance(type_, str):
        raise TypeError(f"an event type is a string, not {type(type_).__name__}")
    if not 0 < len(type_) <= MAX_TYPE_LENGTH or not type_.isprintable() or " " in type_:
        raise ValueError(f"event type {type_[:MAX_TYPE_LENGTH]!r}: 1 to {MAX_TYPE_LENGTH} printable "
                         "characters without spaces, such as 'myplugin.done'")
    if data is not None and not isinstance(data, dict):
        raise TypeError(f"event data is a dict, not {type(data).__name__}")


class Bus:
    """Fan-out of events to subscriptions; call only from the trio thread."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._pending: deque[Event] = deque()
        self._delivering = False
        self.published = 0

    def publish(self, type_: str, data: dict[str, Any] | None = None) -> Event:
        """Hand `event` to every listener; from inside a listener, once the current event is done.

        Raises TypeError or ValueError, and publishes nothing, when `type_` is not an event
        type (a short string without spaces) or `data` is not a dict.
        """
        check_event(type_, data)
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
                        log.exception("event listener %r failed on %s", listener, event.type)
        finally:
            self._delivering = False

    def listen(self, listener: Listener) -> None:
        """Call `listener(event)` synchronously for every event; it must never block."""
        self._listeners.append(listener)

    def unlisten(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

