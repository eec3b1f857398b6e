"""What goes to the Realtime server, in order, through one bounded channel."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import trio

from voiced.realtime.connection import Outgoing
from voiced.realtime.protocol import ClientEvent

log = logging.getLogger("voiced")

OUTBOX_SIZE = 1000
RESERVED_FOR_CONTROL = 100
"""Slots microphone audio may not take, so a truncate is never dropped for audio."""


@dataclass
class Counters:
    """Counts `status` reports that no single part keeps (the session keeper counts its own)."""

    frames_sent: int = 0
    frames_dropped: int = 0
    interruptions: int = 0
    started_at: float = field(default_factory=time.monotonic)


class Outbox:
    """The session's connection reads `receive`; everyone else only queues, never waits."""

    def __init__(self, counters: Counters, size: int = OUTBOX_SIZE,
                 reserved: int = RESERVED_FOR_CONTROL) -> None:
        self._counters = counters
        self._size = size
        self._reserved = reserved
        self._send, self.receive = trio.open_memory_channel[Outgoing](size)

    def send(self, event: ClientEvent) -> None:
        """Queue a client event; logged and dropped only if the outbox is full."""
        try:
            self._send.send_nowait(Outgoing(event))
        except trio.WouldBlock:
            log.error("outbox full: dropped %s", event.get("type"))

    def offer_audio(self, event: ClientEvent, captured_at: float) -> None:
        """Queue microphone audio unless that would take the slots kept for other events."""
        if self._send.statistics().current_buffer_used >= self._size - self._reserved:
            self._counters.frames_dropped += 1
            return
        self._send.send_nowait(Outgoing(event, captured_at))
        self._counters.frames_sent += 1

    def drop(self) -> None:
        """Forget what is queued: events meant for a session that ended would be wrong in the next."""
        while True:
            try:
                self.receive.receive_nowait()
            except trio.WouldBlock:
                return
