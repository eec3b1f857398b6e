"""Event streams for `subscribe`d clients: bus events become numbered notifications.

Events are queued on the connection without waiting. When a client does not read,
its queue drops the oldest; when it reads again, the first thing it gets is
`events.dropped {count}`. Numbers are given as lines are written, so `seq` goes up
by one per event the client actually receives, notices included.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from voiced.bus import Bus, Event

from .connection import ClientConnection

log = logging.getLogger("voiced.control")


class EventStream:
    """One client's subscription: a bus listener that forwards matching events."""

    def __init__(self, client: ClientConnection, topics: Iterable[str]) -> None:
        self.client = client
        self.topics = frozenset(topics)
        self.seq = 0
        client.stamp = self._number
        client.drop_notice = self._drop_notice

    def __call__(self, event: Event) -> None:
        if event.matches(self.topics):
            self.client.notify("event", {"ts": event.ts, "type": event.type, "data": event.data})

    def _number(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method != "event":
            return params
        self.seq += 1
        return {"seq": self.seq, **params}

    @staticmethod
    def _drop_notice(count: int) -> tuple[str, dict[str, Any]]:
        return "event", {"ts": time.time(), "type": "events.dropped", "data": {"count": count}}

    def close(self) -> None:
        self.client.stamp = self.client.drop_notice = None


class Subscriptions:
    """Which connections are subscribed; closed ones are forgotten on the next event."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._streams: dict[ClientConnection, EventStream] = {}
        bus.listen(self._forward)

    def subscribe(self, client: ClientConnection, topics: Iterable[str]) -> EventStream:
        """Start the client's stream, or change its topics (numbering goes on)."""
        stream = self._streams.get(client)
        if stream is not None:
            stream.topics = frozenset(topics)
            return stream
        stream = self._streams[client] = EventStream(client, topics)
        return stream

    def unsubscribe(self, client: ClientConnection) -> bool:
        stream = self._streams.pop(client, None)
        if stream is None:
            return False
        stream.close()
        return True

    def _forward(self, event: Event) -> None:
        for client, stream in tuple(self._streams.items()):
            if client.closed:
                del self._streams[client]
                continue
            try:
                stream(event)
            except Exception:  # one stream's trouble is not the others'
                log.exception("the event stream of %r failed on %s", client, event.type)

    def __len__(self) -> int:
        return len(self._streams)

    def describe(self) -> list[dict[str, Any]]:
        return [{"client": repr(c), "topics": sorted(s.topics), "seq": s.seq, "dropped": c.dropped}
                for c, s in self._streams.items()]
