"""A real ControlServer on a real Unix socket, run by trio in a background thread."""

from __future__ import annotations

import json
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
import trio

from voiced.control import ClientConnection, ControlServer, MethodRegistry, RpcError


class SayParams(pydantic.BaseModel):
    text: str
    loud: bool = False


def make_registry() -> MethodRegistry:
    methods = MethodRegistry()

    @methods.method("echo", SayParams)
    async def echo(params: SayParams, client: ClientConnection) -> dict[str, Any]:
        """Say it back."""
        return {"text": params.text.upper() if params.loud else params.text}

    @methods.method("ping")
    async def ping(params: None, client: ClientConnection) -> str:
        return "pong"

    @methods.method("slow")
    async def slow(params: None, client: ClientConnection) -> str:
        await trio.sleep(3)
        return "late"

    @methods.method("broken")
    async def broken(params: None, client: ClientConnection) -> None:
        raise KeyError("a bug")

    @methods.method("refuse")
    async def refuse(params: None, client: ClientConnection) -> None:
        raise RpcError(-32001, "not now", {"state": "paused"})

    @methods.method("not_json")
    async def not_json(params: None, client: ClientConnection) -> object:
        return object()

    @methods.method("plugin.hello")
    async def hello(params: None, client: ClientConnection) -> str:
        return "hi"

    return methods


class ServerThread:
    """Runs ``ControlServer.serve`` in its own thread until ``stop``."""

    def __init__(self, server: ControlServer) -> None:
        self.server = server
        self.path = server.path
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            with trio.CancelScope() as scope:
                self._scope = scope
                async with trio.open_nursery() as nursery:
                    await nursery.start(self.server.serve)
                    self._started.set()

        try:
            trio.run(main)
        except BaseException as exc:
            self._error = exc
        finally:
            self._started.set()

    def start(self) -> ServerThread:
        self._thread.start()
        self._started.wait(10)
        if self._error:
            raise self._error
        return self

    def run_sync(self, fn: Any, *args: Any) -> Any:
        """Call ``fn`` inside the server's trio thread (e.g. to notify a client)."""
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def stop(self) -> None:
        if self._thread.is_alive():
            trio.from_thread.run_sync(self._scope.cancel, trio_token=self._token)
            self._thread.join(10)
        if self._error:
            raise self._error


class LineClient:
    """A blocking test client that speaks raw lines."""

    def __init__(self, path: Path, timeout: float = 5) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, params: Any = None, request_id: Any = 1) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(json.dumps(message).encode() + b"\n")
        return self.read()

    def read(self) -> dict[str, Any]:
        while b"\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    # Short path: AF_UNIX paths are limited to 108 bytes, pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="voiced-") as folder:
        yield Path(folder)


@pytest.fixture
def server(socket_dir: Path) -> Iterator[ServerThread]:
    running = ServerThread(ControlServer(socket_dir / "voiced" / "control.sock", make_registry()))
    running.start()
    yield running
    running.stop()


@pytest.fixture
def client(server: ServerThread) -> Iterator[LineClient]:
    line_client = LineClient(server.path)
    yield line_client
    line_client.close()


@pytest.fixture
def connect(server: ServerThread) -> Iterator[Any]:
    """Open more clients to ``server``; all are closed after the test."""
    clients: list[LineClient] = []

    def open_client(timeout: float = 5) -> LineClient:
        clients.append(LineClient(server.path, timeout))
        return clients[-1]

    yield open_client
    for line_client in clients:
        line_client.close()


@pytest.fixture
def start_server(socket_dir: Path) -> Iterator[Any]:
    """Start a ControlServer with given methods and options; stopped after the test."""
    running: list[ServerThread] = []

    def start(methods: MethodRegistry, **options: Any) -> ServerThread:
        server = ControlServer(socket_dir / f"{len(running)}.sock", methods, **options)
        running.append(ServerThread(server).start())
        return running[-1]

    yield start
    for server in running:
        server.stop()


@pytest.fixture
def line_client() -> Any:
    """The LineClient class, for tests that start their own server."""
    return LineClient
