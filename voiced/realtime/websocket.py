"""A WebSocket client on anyio and wsproto: one code path under asyncio and under trio.

wsproto is the sans-IO WebSocket protocol trio-websocket is built on; anyio gives it
TCP and TLS streams on whichever event loop runs it. This is only what a Realtime
client needs: the handshake with extra headers, text messages both ways, answering
pings, a ping that waits for its pong, and the closing handshake.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import anyio
import anyio.abc
from wsproto import ConnectionState, WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

RECEIVE_BYTES = 65536
CLOSE_TIMEOUT_S = 2.0


class HandshakeRefused(Exception):
    """The server answered the WebSocket handshake with an HTTP error."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


class WebSocketClosed(Exception):
    """The connection is closed: by the peer (with its `code`), or lost (1006)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"{code}{': ' + reason if reason else ''}")
        self.code = code
        self.reason = reason


class WebSocket:
    """An open client connection. One task receives; any task may send or ping."""

    def __init__(self, stream: anyio.abc.ByteStream, protocol: WSConnection, *,
                 max_message_bytes: int) -> None:
        self._stream = stream
        self._protocol = protocol
        self._max_message_bytes = max_message_bytes
        self._events: deque[Event] = deque()
        self._send_lock = anyio.Lock()
        self._pongs: dict[bytes, anyio.Event] = {}
        self.closed: WebSocketClosed | None = None
        self._closing: WebSocketClosed | None = None
        """The Close this side sent, while waiting for the peer's."""

    async def send(self, text: str) -> None:
        """Send one text message; WebSocketClosed once the connection is closing or closed."""
        if self.closed is not None:
            raise self.closed
        await self._write(TextMessage(data=text))

    async def receive(self) -> str | bytes:
        """The next whole message. Pings are answered meanwhile; a close raises WebSocketClosed."""
        text: list[str] = []
        data: list[bytes] = []
        size = 0
        while True:
            event = await self._next_event()
            if isinstance(event, TextMessage | BytesMessage):
                if isinstance(event, TextMessage):
                    text.append(event.data)
                else:
                    data.append(bytes(event.data))
                size += len(event.data)
                if size > self._max_message_bytes:
                    await self.aclose(1009, "message too big")
                    raise WebSocketClosed(1009, "message too big")
                if event.message_finished:
                    return "".join(text) if isinstance(event, TextMessage) else b"".join(data)
            elif isinstance(event, Ping):
                if self._protocol.state is ConnectionState.OPEN:  # not once a Close is under way
                    await self._write(event.response())
            elif isinstance(event, Pong):
                if (waiting := self._pongs.pop(bytes(event.payload), None)) is not None:
                    waiting.set()
            elif isinstance(event, CloseConnection):
                self.closed = WebSocketClosed(event.code, event.reason or "")
                if self._protocol.state is ConnectionState.REMOTE_CLOSING:
                    await self._write(event.response())
                raise self.closed

    async def ping(self) -> None:
        """Send a ping and wait for its pong (which the receiving task reads)."""
        payload = os.urandom(8)
        pong = self._pongs[payload] = anyio.Event()
        try:
            await self._write(Ping(payload=payload))
            await pong.wait()
        finally:
            self._pongs.pop(payload, None)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake, wait briefly for the peer's answer, close the stream."""
        try:
            if self._protocol.state is ConnectionState.OPEN:
                await self._write(CloseConnection(code=code, reason=reason))
                with anyio.move_on_after(CLOSE_TIMEOUT_S):
                    while self.closed is None:
                        await self.receive()
        except (WebSocketClosed, OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        finally:
            self.closed = self.closed or WebSocketClosed(code, reason)
            await self._stream.aclose()

    async def _next_event(self) -> Event:
        while not self._events:
            try:
                data = await self._stream.receive(RECEIVE_BYTES)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                self.closed = self.closed or WebSocketClosed(1006, "connection lost")
                raise self.closed from None
            self._protocol.receive_data(data)
            self._events.extend(self._protocol.events())
        return self._events.popleft()

    async def _write(self, event: Event) -> None:
        """Send `event`; WebSocketClosed once the closing handshake has begun (only the
        answer to the peer's Close may follow it), or when the connection is lost."""
        async with self._send_lock:
            state = self._protocol.state
            if not (state is ConnectionState.OPEN or (state is ConnectionState.REMOTE_CLOSING
                                                      and isinstance(event, CloseConnection))):
                raise self.closed or self._closing or WebSocketClosed(1006, "connection lost")
            if isinstance(event, CloseConnection) and state is ConnectionState.OPEN:
                self._closing = WebSocketClosed(event.code, event.reason or "")
            data = self._protocol.send(event)
            try:
                await self._stream.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                self.closed = self.closed or WebSocketClosed(1006, "connection lost")
                raise self.closed from None

@asynccontextmanager
async def open_websocket(url: str, *, headers: Sequence[tuple[bytes, bytes]] = (), timeout: float,
                         max_message_bytes: int) -> AsyncIterator[WebSocket]:
    """Connect to a ws:// or wss:// `url` within `timeout` seconds; close on exit.

    Raises OSError (or TimeoutError) when the server cannot be reached, HandshakeRefused
    when it answers the upgrade with an HTTP error.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    with anyio.fail_after(timeout):
        stream: anyio.abc.ByteStream
        if secure:  # the WebSocket closing handshake ends the session, not TLS close_notify
            stream = await anyio.connect_tcp(parts.hostname, port, tls=True, tls_hostname=parts.hostname,
                                             tls_standard_compatible=False)
        else:
            stream = await anyio.connect_tcp(parts.hostname, port)
        try:
            protocol = WSConnection(ConnectionType.CLIENT)
            await stream.send(protocol.send(Request(host=parts.netloc, target=target,
                                                    extra_headers=list(headers))))
            events = await _handshake(stream, protocol)
        except BaseException:
            await anyio.aclose_forcefully(stream)
            raise
    websocket = WebSocket(stream, protocol, max_message_bytes=max_message_bytes)
    websocket._events.extend(events)
    try:
        yield websocket
    finally:
        with anyio.CancelScope(shield=True):
            await websocket.aclose()


async def _handshake(stream: anyio.abc.ByteStream, protocol: WSConnection) -> list[Event]:
    """Read the server's answer to the upgrade; the events that followed it in the same read."""
    while True:
        try:
            data = await stream.receive(RECEIVE_BYTES)
        except anyio.EndOfStream:
            raise ConnectionResetError("the server closed the connection during the handshake") from None
        protocol.receive_data(data)
        events = list(protocol.events())
        for index, event in enumerate(events):
            if isinstance(event, AcceptConnection):
                return events[index + 1:]
            if isinstance(event, RejectConnection | RejectData):
                raise HandshakeRefused(getattr(event, "status_code", 0) or 0)
