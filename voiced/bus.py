"""The event bus: the daemon publishes, listeners (socket subscribers, plugins) read.

Publishing never waits. Each subscription has its own bounded queue; when a reader
falls behind, its oldest events are dropped and counted, so a stuck client can cost
memory up to its bound and nothing else: not the audio, not the other readers.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import trio

DEFAULT_QUEUE = 1000

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


class Subscription:
    """One reader's bounded queue of events."""

    def __init__(self, bus: Bus, topics: frozenset[str], maxlen: int) -> None:
        self._bus = bus
        self.topics = topics
        self._queue: deque[Event] = deque(maxlen=maxlen)
        self._arrived = trio.Event()
        self.dropped = 0
        self.closed = False

    def _offer(self, event: Event) -> None:
        if not event.matches(self.topics):
            return
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(event)
        self._arrived.set()

    async def get(self) -> Event:
        """The next event, waiting for one; raises trio.EndOfChannel once closed."""
        while not self._queue:
            if self.closed:
                raise trio.EndOfChannel
            await self._arrived.wait()
            self._arrived = trio.Event()
        return self._queue.popleft()

    def take_dropped(self) -> int:
        """How many events were lost since the last call."""
        count, self.dropped = self.dropped, 0
        return count

    def close(self) -> None:
        self.closed = True
        self._arrived.set()
        self._bus._subscriptions.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bus:
    """Fan-out of events to subscriptions; call only from the trio thread."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._listeners: list[Listener] = []
        self.published = 0

    def publish(self, type_: str, data: dict[str, Any] | None = None) -> Event:
        event = Event(type_, data or {})
        self.published += 1
        for subscription in tuple(self._subscriptions):
            subscription._offer(event)
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

    def subscribe(self, topics: Iterable[str] = (), maxlen: int = DEFAULT_QUEUE) -> Subscription:
        subscription = Subscription(self, frozenset(topics), maxlen)
        self._subscriptions.add(subscription)
        return subscription
