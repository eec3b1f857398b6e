"""What one user's clients can make the control socket hold: hostile lines, connections, idle ones."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from tests.support.processes import wait_for
from voiced.control import ClientConnection, MethodRegistry, jsonrpc

from .conftest import make_registry

PING = b'{"jsonrpc":"2.0","id":"after","method":"ping"}\n'

HOSTILE_LINES = {
    "overflowing id": b'{"jsonrpc":"2.0","id":1e400,"method":"ping"}',
    "overflowing param": b'{"jsonrpc":"2.0","id":7,"method":"echo","params":{"text":"x","loud":-1e400}}',
    "overflowing nested number": b'{"jsonrpc":"2.0","id":7,"method":"echo","params":[[1e999]]}',
    "NaN": b'{"jsonrpc":"2.0","id":NaN,"method":"ping"}',
    "Infinity": b'{"jsonrpc":"2.0","id":7,"method":"ping","params":[-Infinity]}',
    "huge integer id": b'{"jsonrpc":"2.0","id":' + b"9" * 5000 + b',"method":"ping"}',
    "big integer id": b'{"jsonrpc":"2.0","id":' + b"9" * 40 + b',"method":"ping"}',
    "long string id": b'{"jsonrpc":"2.0","id":"' + b"x" * 10_000 + b'","method":"ping"}',
    "deep nesting": b'{"jsonrpc":"2.0","id":7,"method":"echo","params":' + b"[" * 200_000,
    "deep nesting, closed": b'{"jsonrpc":"2.0","id":7,"method":"ping","params":'
    + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "invalid UTF-8": b'{"jsonrpc":"2.0","id":7,"method":"echo","params":{"text":"\xff\xfe"}}',
    "lone surrogate id": b'{"jsonrpc":"2.0","id":"\\ud800","method":"nope"}',
}


@pytest.mark.parametrize("line", HOSTILE_LINES.values(), ids=HOSTILE_LINES.keys())
def test_a_hostile_line_gets_an_error_and_the_pipelined_request_behind_it_an_answer(
    client: Any, line: bytes
) -> None:
    """Guards [S]11: `1e400` parsed to inf, its reply could not be encoded, the connection
    dropped and the requests pipelined behind it were lost. Every such line now gets a
    JSON-RPC error reply, and the next request on the same write is answered."""
    client.send(line + b"\n" + PING)
    error = client.read()
    assert error["jsonrpc"] == "2.0" and isinstance(error["error"]["code"], int)
    assert client.read() == {"jsonrpc": "2.0", "id": "after", "result": "pong"}


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b'{"jsonrpc":"2.0","id":1e400,"method":"x"}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":[1E+999]}}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"x","params":[' + b"1" * 5000 + b"]}", jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":' + b"1" * 30 + b',"method":"x"}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":"' + b"a" * 257 + b'","method":"x"}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"x","params":[-Infinity]}', jsonrpc.PARSE_ERROR),
    ],
)
def test_numbers_without_a_finite_value_and_huge_ids_are_refused(line: bytes, code: int) -> None:
    """Guards [S]11: no request carries inf, an unprintable integer or an id too big to echo."""
    with pytest.raises(jsonrpc.BadRequest) as caught:
        jsonrpc.parse_request(line)
    assert caught.value.code == code
    assert caught.value.request_id is None
    jsonrpc.encode(jsonrpc.error_response(caught.value.request_id, caught.value))  # can be answered


def test_ids_within_the_limits_are_kept() -> None:
    for request_id in ("a" * 256, 2**63 - 1, -(2**63 - 1), 1.5, -2e18):
        line = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "x"}).encode()
        request = jsonrpc.parse_request(line)
        assert request is not None and request.id == request_id


def test_connections_over_the_cap_are_told_why_and_closed(start_server: Any, line_client: Any) -> None:
    """Guards [S]15: at most `max_connections` clients at once; the next one gets a
    one-line error (id null, so a client can show it) and is hung up on; when one
    leaves, a new one is let in."""
    running = start_server(make_registry(), max_connections=3)
    clients = [line_client(running.path) for _ in range(3)]
    for client in clients:
        assert client.request("ping")["result"] == "pong"  # all three are in
    extra = line_client(running.path)
    busy = {"code": jsonrpc.SERVER_BUSY, "message": "too many connections (at most 3); try again later"}
    assert extra.read() == {"jsonrpc": "2.0", "id": None, "error": busy}
    assert extra.sock.recv(1) == b""  # closed
    clients.pop().close()

    def newcomer_gets_in() -> bool:  # once the server has read the hang-up
        newcomer = line_client(running.path)
        try:
            return newcomer.request("ping").get("result") == "pong"
        except (ConnectionError, OSError):
            return False
        finally:
            newcomer.close()

    wait_for(newcomer_gets_in, 10, "a connection let in after one left")
    for client in [*clients, extra]:
        client.close()


def test_an_idle_connection_is_closed_but_a_subscriber_is_not(start_server: Any, line_client: Any) -> None:
    """Guards [S]15: a connection that sends nothing for `idle_timeout_s` and is not
    subscribed is closed; a subscriber may stay quiet as long as it likes."""
    methods = make_registry()

    async def subscribe(params: None, client: ClientConnection) -> str:
        client.stamp = lambda method, params: params  # what an event stream attaches
        return "ok"

    methods.add("subscribe", subscribe)
    running = start_server(methods, idle_timeout_s=0.5)
    subscriber = line_client(running.path, timeout=2)
    assert subscriber.request("subscribe")["result"] == "ok"
    idle = line_client(running.path, timeout=30)
    assert idle.sock.recv(1) == b""  # hung up on (the read would wait 30 s otherwise)
    with pytest.raises(socket.timeout):
        subscriber.sock.recv(1)  # still open after four idle timeouts
    assert subscriber.request("ping")["result"] == "pong"
    subscriber.close()
    idle.close()


def test_the_default_limits_leave_room(start_server: Any) -> None:
    running = start_server(MethodRegistry())
    assert running.server.max_connections >= 100  # test_100_concurrent_clients needs them
    assert running.server.idle_timeout_s >= 60
