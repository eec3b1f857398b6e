"""Whatever arrives on a line, the server answers with valid JSON-RPC and goes on."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voiced.control import jsonrpc

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Messages that look like requests, so the checks past "is it JSON" get exercised.
request_like = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2.0]) | json_values,
        "id": st.none() | st.integers() | st.text(max_size=5) | json_values,
        "method": st.sampled_from(
            ["ping", "echo", "nope", "broken", "refuse", "describe", "not_json", "plugin.hello"]
        )
        | json_values,
        "params": st.fixed_dictionaries({}, optional={"text": json_values, "loud": json_values})
        | st.lists(json_values, max_size=3)
        | json_values,
    },
)
# What a hostile client sends ([S]11): numbers with no finite value, huge ids, deep
# nesting (closed or not) and bytes that are not UTF-8, where the id or the params go.
awkward_numbers = st.sampled_from(
    [b"1e400", b"-1E+999", b"NaN", b"-Infinity", b"9" * 5000, b"9" * 30, b"1e-400", b"0.5", b"-0"]
)
hostile = st.builds(
    lambda number, depth, closed, junk, in_id: (
        b'{"jsonrpc":"2.0","id":' + (number if in_id else b"1") + b',"method":"echo","params":'
        + b"[" * depth + number + (b"]" * depth + b"}" if closed else b"") + junk
    ),
    awkward_numbers,
    st.sampled_from([0, 1, 5, 900, 5000, 100_000]),
    st.booleans(),
    st.sampled_from([b"", b"\xff", b"\xc3\x28", b'"\\ud800"']),
    st.booleans(),
)
lines = (
    st.binary(max_size=200)
    | json_values.map(lambda value: json.dumps(value).encode())
    | request_like.map(lambda value: json.dumps(value, ensure_ascii=False).encode())
    | hostile
).map(lambda line: line.replace(b"\n", b""))


def replies_due(line: bytes) -> int:
    try:
        request = jsonrpc.parse_request(line.removesuffix(b"\r"))
    except jsonrpc.BadRequest:
        return 1
    return 0 if request is None or request.is_notification else 1


def assert_valid_response(reply: dict[str, Any]) -> None:
    assert reply["jsonrpc"] == "2.0"
    assert "id" in reply
    assert ("result" in reply) != ("error" in reply)
    if "error" in reply:
        assert isinstance(reply["error"]["code"], int)
        assert isinstance(reply["error"]["message"], str)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(line=lines)
def test_any_line_gets_a_valid_reply_or_none(client: Any, line: bytes) -> None:
    # One connection for every example: it must survive all of them.
    client.send(line + b"\n" + b'{"jsonrpc":"2.0","id":"probe","method":"ping"}\n')
    replies = []
    while True:
        reply = client.read()
        if reply.get("id") == "probe" and reply.get("result") == "pong":
            break
        replies.append(reply)
    assert len(replies) == replies_due(line)
    for reply in replies:
        assert_valid_response(reply)
