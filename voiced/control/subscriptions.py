"""Event streams for `subscribe`d clients: bus events become numbered notifications.

Each subscribed connection numbers its own events (`seq` +1 per event). Events are
queued on the connection without waiting; when a client does not read, its queue
drops the oldest lines, and the next event it gets is preceded by `events.dropped
{count}`, so a reader always knows what it missed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from voiced.bus import Bus, Event

from .connection import ClientConnection


class EventStream:
    """One client's subscription: a bus listener that numbers and forwards events."""

    def __init__(self, client: ClientConnection, topics: Iterable[str]) -> None:
        self.client = client
        self.topics = frozenset(topics)
        self.seq = 0
        self._drops_reported = client.dropped

    def __call__(self, event: Event) -> None:
        if not event.matches(self.topics):
            return
        missed = self.client.dropped - self._drops_reported
        if missed:
            self._send(Event("events.dropped", {"count": missed}, event.ts))
        self._send(event)
        self._drops_reported = self.client.dropped

    def _send(self, event: Event) -> None:
        self.seq += 1
        self.client.notify("event", {"seq": self.seq, "ts": event.ts, "type": event.type, "data": event.data})


class Subscriptions:
    """Which connections are subscribed; closed ones are forgotten on the next event."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._streams: dict[ClientConnection, EventStream] = {}
        bus.listen(self._forward)

    def subscribe(self, client: ClientConnection, topics: Iterable[str]) -> EventStream:
        """Start (or restart, with new topics) the client's stream."""
        stream = EventStream(client, topics)
        self._streams[client] = stream
        return stream

    def unsubscribe(self, client: ClientConnection) -> bool:
        return self._streams.pop(client, None) is not None

    def _forward(self, event: Event) -> None:
        for client, stream in tuple(self._streams.items()):
            if client.closed:
                del self._streams[client]
            else:
                stream(event)

    def __len__(self) -> int:
        return len(self._streams)

    def describe(self) -> list[dict[str, Any]]:
        return [{"client": repr(c), "topics": sorted(s.topics), "seq": s.seq, "dropped": c.dropped}
                for c, s in self._streams.items()]
