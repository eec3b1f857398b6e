"""The control socket over a real Unix socket: errors, limits, misbehaving clients."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from voiced.control import (
    ClientConnection,
    ControlServer,
    ControlSocketError,
    MethodRegistry,
    SocketBusyError,
)


def request_line(method: str, params: Any = None, request_id: Any = 1) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message).encode() + b"\n"


def test_answers_and_every_error_code(client: Any) -> None:
    assert client.request("ping") == {"jsonrpc": "2.0", "id": 1, "result": "pong"}
    assert client.request("echo", {"text": "hi", "loud": True})["result"] == {"text": "HI"}
    assert client.request("plugin.hello")["result"] == "hi"

    client.send(b'{"jsonrpc": "2.0", "id": 1\n')
    assert client.read()["error"]["code"] == -32700
    client.send(b"[1, 2]\n")
    assert client.read() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": "invalid request: batches are not supported"},
    }
    assert client.request("nope", request_id="x")["error"]["code"] == -32601
    invalid = client.request("echo", {"loud": "very"})["error"]
    assert invalid["code"] == -32602
    assert [e["loc"] for e in invalid["data"]] == [["text"], ["loud"]]
    assert client.request("broken")["error"] == {"code": -32603, "message": "internal error"}
    assert client.request("not_json")["error"]["code"] == -32603
    assert client.request("refuse")["error"] == {
        "code": -32001,
        "message": "not now",
        "data": {"state": "paused"},
    }
    assert client.request("ping", request_id=2)["result"] == "pong"


def test_invalid_utf8_gets_a_parse_error_and_the_connection_goes_on(client: Any) -> None:
    client.send(b'{"jsonrpc":"2.0","id":1,"method":"echo","params":{"text":"\xc3\x28"}}\n')
    error = client.read()["error"]
    assert error["code"] == -32700 and "UTF-8" in error["message"]
    assert client.request("ping")["result"] == "pong"


def test_notifications_get_no_reply(client: Any) -> None:
    client.send(b'{"jsonrpc":"2.0","method":"ping"}\n{"jsonrpc":"2.0","method":"nope"}\n\n')
    assert client.request("ping", request_id=5)["id"] == 5


def test_a_line_over_1_mib_is_refused_and_the_next_request_answered(client: Any) -> None:
    client.send(b'{"jsonrpc":"2.0","id":1,"method":"echo","params":{"text":"')
    client.send(b"a" * (2 * 1024 * 1024))
    client.send(b'"}}\n' + request_line("ping", request_id=2))
    error = client.read()
    assert error["id"] is None and error["error"]["code"] == -32600
    assert "exceeds 1 MiB" in error["error"]["message"]
    assert client.read() == {"jsonrpc": "2.0", "id": 2, "result": "pong"}


def test_a_line_of_exactly_1_mib_is_accepted(client: Any) -> None:
    head = b'{"jsonrpc":"2.0","id":1,"method":"echo","params":{"text":"'
    tail = b'"}}'
    client.send(head + b"a" * (1024 * 1024 - len(head) - len(tail)) + tail + b"\n")
    assert len(client.read()["result"]["text"]) > 1000_000


def test_a_client_that_hangs_up_mid_line_harms_nobody(server: Any, connect: Any) -> None:
    for _ in range(5):
        rude = connect()
        rude.send(b'{"jsonrpc":"2.0","id":1,"meth')
        rude.close()
    rude = connect()
    rude.send(request_line("slow"))
    rude.close()  # gone while its method runs: the reply has nowhere to go
    assert connect().request("ping")["result"] == "pong"


def test_a_slow_method_does_not_hold_up_other_connections(connect: Any) -> None:
    connect().send(request_line("slow"))
    started = time.monotonic()
    assert connect().request("ping")["result"] == "pong"
    assert time.monotonic() - started < 1


def test_a_client_that_never_reads_does_not_slow_the_others(connect: Any) -> None:
    deaf = connect()
    deaf.sock.setblocking(False)
    try:  # requests until the kernel buffers on both sides are full
        for _ in range(100_000):
            deaf.sock.send(request_line("describe") * 50)
    except BlockingIOError:
        pass
    started = time.monotonic()
    assert connect().request("ping")["result"] == "pong"
    assert time.monotonic() - started < 1


def test_100_concurrent_clients(server: Any, connect: Any) -> None:
    async def one_client(number: int) -> None:
        stream = await trio.open_unix_socket(str(server.path))
        async with stream:
            buffer = b""
            for round_ in range(5):
                await stream.send_all(request_line("echo", {"text": f"{number}-{round_}"}))
                while b"\n" not in buffer:
                    buffer += await stream.receive_some(4096)
                line, _, buffer = buffer.partition(b"\n")
                assert json.loads(line)["result"] == {"text": f"{number}-{round_}"}

    async def main() -> None:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                for number in range(100):
                    nursery.start_soon(one_client, number)

    trio.run(main)
    assert connect().request("ping")["result"] == "pong"


def test_folder_is_0700_and_socket_0600(server: Any) -> None:
    assert stat.S_IMODE(server.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(server.path.stat().st_mode) == 0o600
    assert stat.S_ISSOCK(server.path.stat().st_mode)


def run_briefly(path: Path, methods: MethodRegistry | None = None) -> None:
    """Start a server at ``path``, then stop it."""

    failure: list[ControlSocketError] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            try:
                await nursery.start(ControlServer(path, methods or MethodRegistry()).serve)
            except ControlSocketError as exc:  # raised by start(), before the nursery wraps it
                failure.append(exc)
                return
            assert path.exists()
            nursery.cancel_scope.cancel()

    trio.run(main)
    if failure:
        raise failure[0]


def test_a_busy_socket_is_refused(server: Any) -> None:
    with pytest.raises(SocketBusyError, match="another voiced is already running on"):
        run_briefly(server.path)
    assert server.path.exists()


def test_a_stale_socket_is_replaced_and_the_socket_removed_on_exit(socket_dir: Path) -> None:
    path = socket_dir / "voiced" / "control.sock"
    path.parent.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a crashed daemon leaves
    run_briefly(path)
    assert not path.exists()


def test_a_file_that_is_not_a_socket_is_left_alone(socket_dir: Path) -> None:
    path = socket_dir / "control.sock"
    path.write_text("mine")
    with pytest.raises(ControlSocketError, match="not a socket"):
        run_briefly(path)
    assert path.read_text() == "mine"


def test_notify_never_blocks_and_drops_the_oldest() -> None:
    client = ClientConnection(max_queued_notifications=3)
    for seq in range(10):
        assert client.notify("event", {"seq": seq})
    assert client.dropped == 7
    assert client.queued_notifications == 3
    client.close()
    assert not client.notify("event", {"seq": 10})


def test_a_subscriber_that_does_not_read_loses_the_oldest_events(start_server: Any, line_client: Any) -> None:
    methods = MethodRegistry()

    async def flood(params: None, client: ClientConnection) -> int:
        for seq in range(5000):
            client.notify("event", {"seq": seq, "pad": "x" * 100})
        return client.dropped

    methods.add("flood", flood)
    running = start_server(methods, max_queued_notifications=100)
    reader = line_client(running.path)
    reader.send(request_line("flood"))
    events = [reader.read() for _ in range(100)]
    assert [e["params"]["seq"] for e in events] == list(range(4900, 5000))
    assert reader.read() == {"jsonrpc": "2.0", "id": 1, "result": 4900}
    reader.close()


PROBE = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("denied")
    sys.exit()
try:
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"ping"}\\n')
    data = s.recv(100)
except (BrokenPipeError, ConnectionResetError):
    data = b""
print("answered" if data else "closed")
"""


def probe_as(user: list[str], path: Path) -> str:
    result = subprocess.run(
        [*user, sys.executable, "-c", PROBE, str(path)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_only_the_daemons_user_and_root_get_in(
    server: Any, socket_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test runs a client as another user: run the suite as root (CI does)")
    if not shutil.which("setpriv"):
        pytest.fail("setpriv is missing: apt-get install -y util-linux")
    nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    socket_dir.chmod(0o755)  # only voiced's own folder and socket stand in the way
    assert probe_as(nobody, server.path) == "denied"

    server.path.parent.chmod(0o777)  # a misconfiguration: the peer check still holds
    server.path.chmod(0o666)
    with caplog.at_level("WARNING", logger="voiced.control"):
        assert probe_as(nobody, server.path) == "closed"
    assert "refused from uid 65534" in caplog.text
    assert probe_as([], server.path) == "answered"
