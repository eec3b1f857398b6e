"""Hostile lines on the control socket: each gets a valid JSON-RPC reply (or none, when
none is due), and the connection goes on.

Non-finite numbers (`1e400` overflows to inf, `NaN` and `Infinity` are Python's, not
JSON's), nesting deeper than the parser goes, ids of thousands of digits, bytes that are
not UTF-8 and lines at the 1 MiB limit; through the framing alone, the method registry,
and a real server on a Unix socket.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pydantic
import trio
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzzing import FUZZ, json_values
from voiced.control import ClientConnection, MethodRegistry, jsonrpc
from voiced.control.server import MAX_LINE_BYTES

NON_FINITE = st.sampled_from(["1e400", "-1e400", "1E+309", "NaN", "Infinity", "-Infinity"])
OVERFLOWING = st.sampled_from(["1e400", "-1e400", "1E+309", "-2.5e999"])
"""Valid JSON numbers that a float cannot hold."""
ids = st.one_of(
    st.integers().map(str),
    st.text(max_size=6).map(json.dumps),
    st.just("null"),
    st.integers(300, 4300).map(lambda digits: "9" * digits),  # as long as Python reads ints
    st.integers(4301, 6000).map(lambda digits: "9" * digits),  # longer than that
    NON_FINITE,
    OVERFLOWING,
    st.sampled_from(["1e308", "-0.0", "1e-400", "true", "[]", "{}"]),
)
methods = st.sampled_from(["ping", "echo", "mirror", "nope", "broken", "rpc.x"]).map(json.dumps) | ids
deep = st.integers(1, 5000).map(lambda depth: "[" * depth + "]" * depth)
params = st.one_of(
    json_values.map(json.dumps),
    st.text(max_size=10).map(lambda text: json.dumps({"text": text})),
    deep,
    st.integers(1, 5000).map(lambda depth: '{"text":' * depth + "1" + "}" * depth),
    NON_FINITE.map(lambda number: f'{{"text": "x", "loud": {number}}}'),
    NON_FINITE.map(lambda number: f"[[[{number}]]]"),
)


def _request(id_: str | None, method: str, params: str | None) -> bytes:
    members = ['"jsonrpc":"2.0"', f'"method":{method}']
    members += [] if id_ is None else [f'"id":{id_}']
    members += [] if params is None else [f'"params":{params}']
    return ("{" + ",".join(members) + "}").encode()


requests = st.builds(_request, st.none() | ids, methods, st.none() | params)
NOT_UTF8 = st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\x80"])
lines = st.one_of(
    requests,
    st.builds(lambda line, at, junk: line[:at] + junk + line[at:], requests, st.integers(0, 60), NOT_UTF8),
    st.binary(max_size=60),
    st.integers(1, 300_000).map(lambda depth: b"[" * depth),
).map(lambda line: line.replace(b"\n", b" "))
"""Lines of one request each, most of them hostile in one way."""


def make_registry() -> MethodRegistry:
    class Text(pydantic.BaseModel):
        text: str
        loud: bool = False

    methods = MethodRegistry()

    @methods.method("ping")
    async def ping(params: None, client: ClientConnection) -> str:
        return "pong"

    @methods.method("echo", Text)
    async def echo(params: Text, client: ClientConnection) -> str:
        return params.text.upper() if params.loud else params.text

    async def mirror(params: pydantic.RootModel[Any], client: ClientConnection) -> Any:
        return params.root  # deep params come back as deep results

    methods.add("mirror", mirror, pydantic.RootModel[Any])

    @methods.method("broken")
    async def broken(params: None, client: ClientConnection) -> None:
        raise KeyError("a bug")

    return methods


REGISTRY = make_registry()


def _no_constant(name: str) -> None:
    raise AssertionError(f"{name} in a reply")


def strict_json(line: bytes) -> Any:
    """The one JSON value on `line`; raises if it is not one strict, newline-terminated line."""
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    return json.loads(line, parse_constant=_no_constant)


def assert_reply(reply: dict[str, Any]) -> None:
    assert reply["jsonrpc"] == "2.0" and "id" in reply
    assert ("result" in reply) != ("error" in reply)
    if "error" in reply:
        assert isinstance(reply["error"]["code"], int) and isinstance(reply["error"]["message"], str)
    id_ = reply["id"]
    assert id_ is None or isinstance(id_, str | int) or (isinstance(id_, float) and math.isfinite(id_))


@FUZZ
@given(line=lines)
def test_a_line_is_a_request_or_refused_with_a_reply_that_encodes(line: bytes) -> None:
    try:
        request = jsonrpc.parse_request(line)
    except jsonrpc.BadRequest as refused:
        assert refused.code in (jsonrpc.PARSE_ERROR, jsonrpc.INVALID_REQUEST)
        assert_reply(strict_json(jsonrpc.encode(jsonrpc.error_response(refused.request_id, refused))))
        return
    if request is not None:
        assert isinstance(request.method, str) and isinstance(request.params, dict | list | None)
        assert_reply(strict_json(jsonrpc.encode(jsonrpc.result_response(request.id, None))))


@FUZZ
@given(id_=st.none() | st.integers().map(str) | st.text(max_size=4).map(json.dumps), number=OVERFLOWING,
       where=st.sampled_from(["id", "params", "nested"]))
def test_a_number_a_float_cannot_hold_is_an_invalid_request(id_: str | None, number: str, where: str) -> None:
    line = {
        "id": _request(number, '"ping"', None),
        "params": _request(id_, '"echo"', f'{{"text": "x", "loud": {number}}}'),
        "nested": _request(id_, '"mirror"', f'[{{"a": [{number}]}}]'),
    }[where]
    try:
        jsonrpc.parse_request(line)
    except jsonrpc.BadRequest as refused:
        assert refused.code == jsonrpc.INVALID_REQUEST
        if where != "id" and id_ is not None:
            assert refused.request_id in (None, json.loads(id_))
    else:
        raise AssertionError(f"{line!r} was accepted")


def answer(line: bytes) -> bytes | None:
    async def main() -> bytes | None:
        return await REGISTRY.answer(line, ClientConnection())

    return trio.run(main)


@FUZZ
@given(line=lines)
def test_the_methods_answer_every_line_with_one_valid_reply(line: bytes) -> None:
    reply = answer(line)
    if reply is not None:
        assert_reply(strict_json(reply))


def test_an_id_of_1e400_is_answered_as_an_invalid_request() -> None:
    """Guards [S]11: the id parsed to inf, the reply could not be encoded and the
    connection dropped (with the requests pipelined behind it)."""
    reply = strict_json(answer(b'{"jsonrpc":"2.0","id":1e400,"method":"ping"}') or b"")
    assert reply["error"]["code"] == jsonrpc.INVALID_REQUEST and reply["id"] is None


long_lines = st.integers(MAX_LINE_BYTES - 2, MAX_LINE_BYTES + 2).map(
    lambda size: b'{"jsonrpc":"2.0","id":1,"method":"echo","params":{"text":"' + b"a" * (size - 58) + b'"}}')


def replies_due(line: bytes) -> int:
    if len(line) > MAX_LINE_BYTES:
        return 1
    try:
        request = jsonrpc.parse_request(line)
    except jsonrpc.BadRequest:
        return 1
    return 0 if request is None or request.is_notification else 1


@FUZZ
@given(line=st.one_of([lines] * 9 + [long_lines]))  # one line in ten near the 1 MiB limit
def test_the_server_answers_and_goes_on(client: Any, line: bytes) -> None:
    # One connection for every example: it must survive all of them.
    client.send(line + b"\n" + b'{"jsonrpc":"2.0","id":"probe","method":"ping"}\n')
    replies = []
    while (reply := client.read()).get("id") != "probe":
        replies.append(reply)
    assert reply["result"] == "pong"
    assert len(replies) == replies_due(line)
    for reply in replies:
        assert_reply(reply)
