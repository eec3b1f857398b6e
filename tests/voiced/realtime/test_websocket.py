"""The anyio WebSocket client against a wsproto server on loopback, under asyncio and trio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
from anyio.abc import SocketAttribute
from wsproto import WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import AcceptConnection, CloseConnection, Request

from voiced.realtime.websocket import WebSocket, WebSocketClosed, open_websocket

pytestmark = pytest.mark.anyio

HANG_GUARD_S = 60  # only so a broken test ends; nothing asserts on time
PING_FRAME = b"\x89\x04late"  # unmasked, as a server sends it; wsproto sends no ping once closing


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class SlowToClose:
    """A server for one client that, once the client sends Close, pings it and holds
    its own Close until `answer_close` is set."""

    def __init__(self) -> None:
        self.close_received = anyio.Event()
        self.answer_close = anyio.Event()

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        protocol = WSConnection(ConnectionType.SERVER)
        async with stream:
            while True:
                try:
                    protocol.receive_data(await stream.receive())
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
                for event in protocol.events():
                    if isinstance(event, Request):
                        await stream.send(protocol.send(AcceptConnection()))
                    elif isinstance(event, CloseConnection):
                        self.close_received.set()
                        await stream.send(PING_FRAME)
                        await self.answer_close.wait()
                        await stream.send(protocol.send(event.response()))
                        return


@asynccontextmanager
async def connected(server: SlowToClose) -> AsyncIterator[WebSocket]:
    with anyio.fail_after(HANG_GUARD_S):
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tasks:
            tasks.start_soon(listener.serve, server.handle)
            async with open_websocket(f"ws://127.0.0.1:{port}/", timeout=HANG_GUARD_S,
                                      max_message_bytes=1024) as websocket:
                yield websocket
            tasks.cancel_scope.cancel()


async def test_a_ping_during_the_closing_handshake_is_not_answered() -> None:
    server = SlowToClose()
    server.answer_close.set()
    async with connected(server) as websocket:
        await websocket.aclose(1000, "bye")  # reads the ping while closing: no Pong may be sent
    assert websocket.closed is not None and websocket.closed.code == 1000


async def test_sending_while_closing_raises_websocket_closed() -> None:
    server = SlowToClose()
    async with connected(server) as websocket, anyio.create_task_group() as tasks:
        tasks.start_soon(websocket.aclose, 1000, "bye")
        await server.close_received.wait()
        with pytest.raises(WebSocketClosed) as closed:
            await websocket.send("late")
        with pytest.raises(WebSocketClosed):
            await websocket.ping()
        server.answer_close.set()
    assert (closed.value.code, closed.value.reason) == (1000, "bye")
