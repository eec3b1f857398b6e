"""The framing rules, without a socket."""

from __future__ import annotations

import json

import pytest

from voiced.control import jsonrpc


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"{", jsonrpc.PARSE_ERROR),
        (b"\xff\xfe", jsonrpc.PARSE_ERROR),
        (b'{"jsonrpc":"2.0","id":1,"method":"x","params":NaN}', jsonrpc.PARSE_ERROR),
        (b"[" * 100_000, jsonrpc.PARSE_ERROR),
        (b"[]", jsonrpc.INVALID_REQUEST),
        (b'[{"jsonrpc":"2.0","id":1,"method":"status"}]', jsonrpc.INVALID_REQUEST),
        (b"42", jsonrpc.INVALID_REQUEST),
        (b'{"id":1,"method":"status"}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":7}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"x","params":"a"}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":true,"method":"x"}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":{},"method":"x"}', jsonrpc.INVALID_REQUEST),
    ],
)
def test_bad_lines_are_refused_with_the_right_code(line: bytes, code: int) -> None:
    with pytest.raises(jsonrpc.BadRequest) as caught:
        jsonrpc.parse_request(line)
    assert caught.value.code == code


def test_an_invalid_request_keeps_its_usable_id() -> None:
    with pytest.raises(jsonrpc.BadRequest) as caught:
        jsonrpc.parse_request(b'{"jsonrpc":"2.0","id":"a","method":1}')
    assert caught.value.request_id == "a"


def test_requests_and_notifications() -> None:
    request = jsonrpc.parse_request(b'{"jsonrpc":"2.0","id":null,"method":"status"}\r')
    assert request == jsonrpc.Request("status", None, None, is_notification=False)
    note = jsonrpc.parse_request(b'{"jsonrpc":"2.0","method":"say","params":["hi"]}')
    assert note == jsonrpc.Request("say", ["hi"], None, is_notification=True)
    assert jsonrpc.parse_request(b"  \t") is None


def test_encode_is_one_utf8_line_even_for_lone_surrogates() -> None:
    line = jsonrpc.encode(jsonrpc.result_response("\ud800", "grüß"))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line)["id"] == "\ud800"
    assert "grüß".encode() in jsonrpc.encode(jsonrpc.result_response(1, "grüß"))


def test_error_response_carries_data_only_when_given() -> None:
    plain = jsonrpc.error_response(1, jsonrpc.RpcError(-32001, "no"))
    assert plain["error"] == {"code": -32001, "message": "no"}
    rich = jsonrpc.error_response(1, jsonrpc.RpcError(-32001, "no", {"why": 1}))
    assert rich["error"]["data"] == {"why": 1}
