"""One client of the control socket and its outgoing queue.

Replies and notifications leave in the order they were queued. Replies are never
dropped (a connection has at most one request in flight, so they cannot pile up);
notifications are bounded: when the queue is full the oldest is dropped and counted,
so a subscriber that never reads costs the daemon a fixed amount of memory and no time.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from . import jsonrpc

log = logging.getLogger("voiced.control")

DEFAULT_MAX_QUEUED_NOTIFICATIONS = 256

_connection_numbers = itertools.count(1)

Notification = tuple[str, dict[str, Any]]


class ClientConnection:
    """A connected client, as method handlers and event publishers see it."""

    def __init__(
        self,
        *,
        pid: int = 0,
        uid: int = 0,
        max_queued_notifications: int = DEFAULT_MAX_QUEUED_NOTIFICATIONS,
    ) -> None:
        if max_queued_notifications < 1:
            raise ValueError("max_queued_notifications must be at least 1")
        self.number = next(_connection_numbers)
        self.pid = pid
        self.uid = uid
        self.max_queued_notifications = max_queued_notifications
        self._dropped = 0
        self._unreported_drops = 0
        self._closed = False
        self.stamp: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None
        """Called on each notification's params as it is written (event streams number them here)."""
        self.drop_notice: Callable[[int], Notification] | None = None
        """Makes the notification that tells the client how many it lost, written before the next one."""
        # Each entry is (order, line); the writer takes whichever head is older.
        self._order = itertools.count()
        self._replies: deque[tuple[int, bytes, trio.Event]] = deque()
        self._notifications: deque[tuple[int, Notification]] = deque()
        self._wakeup = trio.Event()

    def __repr__(self) -> str:
        return f"<ClientConnection #{self.number} pid={self.pid} uid={self.uid}>"

    @property
    def dropped(self) -> int:
        """How many notifications were dropped because this client did not read them."""
        return self._dropped

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def subscribed(self) -> bool:
        """Whether an event stream is attached (it numbers this client's notifications)."""
        return self.stamp is not None

    @property
    def queued_notifications(self) -> int:
        return len(self._notifications)

    def notify(self, method: str, params: dict[str, Any]) -> bool:
        """Queue a notification for this client without ever waiting.

        When the queue is full the oldest queued notification is dropped (see
        ``dropped``); the client learns of it through ``drop_notice`` when it reads
        again. Returns False once the connection has closed, so a publisher can
        forget this client. Encoding happens as the line is written.
        """
        if self._closed:
            return False
        if len(self._notifications) >= self.max_queued_notifications:
            self._notifications.popleft()
            self._dropped += 1
            self._unreported_drops += 1
        self._notifications.append((next(self._order), (method, params)))
        self._wakeup.set()
        return True

    async def send_reply(self, line: bytes) -> None:
        """Queue a reply and wait until it has been handed to the kernel.

        Waiting is the back-pressure: a client that sends requests but never reads
        stops being read from, instead of making the daemon buffer its replies.
        """
        if self._closed:
            return
        sent = trio.Event()
        self._replies.append((next(self._order), line, sent))
        self._wakeup.set()
        await sent.wait()

    def _next_line(self) -> tuple[bytes, trio.Event | None] | None:
        if self._replies and (not self._notifications or self._replies[0][0] < self._notifications[0][0]):
            _, line, sent = self._replies.popleft()
            return line, sent
        if self._notifications:
            if self._unreported_drops and self.drop_notice is not None:
                notice = self.drop_notice(self._unreported_drops)
                self._unreported_drops = 0
                return self._encode(notice), None
            notification = self._notifications.popleft()[1]
            try:
                return self._encode(notification), None
            except (TypeError, ValueError, RecursionError) as exc:  # one bad event must not end the stream
                log.error("dropped a %s notification that is not JSON: %s", notification[0], exc)
                return self._next_line()
        return None

    def _encode(self, notification: Notification) -> bytes:
        method, params = notification
        if self.stamp is not None:
            params = self.stamp(method, params)
        return jsonrpc.encode(jsonrpc.notification(method, params))

    async def write_outgoing(self, stream: trio.abc.SendStream) -> None:
        """Send queued lines to ``stream`` until cancelled or the stream breaks."""
        while True:
            item = self._next_line()
            if item is None:
                self._wakeup = trio.Event()
                await self._wakeup.wait()
                continue
            line, sent = item
            await stream.send_all(line)
            if sent is not None:
                sent.set()

    def close(self) -> None:
        """Mark the connection closed and release anyone waiting on a reply."""
        self._closed = True
        self._notifications.clear()
        while self._replies:
            self._replies.popleft()[2].set()
