"""The registry: names, params, describe, and turning failures into errors."""

from __future__ import annotations

import json
import logging

import pydantic
import pytest
import trio

from voiced.control import ClientConnection, MethodRegistry


class SayParams(pydantic.BaseModel):
    text: str
    loud: bool = False


def answer(methods: MethodRegistry, message: dict | str) -> dict | None:
    line = message if isinstance(message, str) else json.dumps(message)

    async def run() -> bytes | None:
        return await methods.answer(line.encode(), ClientConnection())

    reply = trio.run(run)
    return None if reply is None else json.loads(reply)


async def nothing(params: None, client: ClientConnection) -> None:
    return None


def registry() -> MethodRegistry:
    methods = MethodRegistry()

    @methods.method("say", SayParams, summary="Speak a typed turn.")
    async def say(params: SayParams, client: ClientConnection) -> str:
        return params.text + ("!" if params.loud else "")

    async def status(params: None, client: ClientConnection) -> dict:
        """What the daemon is doing.

        More words.
        """
        return {"state": "standby"}

    methods.add("status", status)
    return methods


def test_params_by_name_and_by_position() -> None:
    methods = registry()
    assert (
        answer(methods, {"jsonrpc": "2.0", "id": 1, "method": "say", "params": {"text": "a"}})["result"]
        == "a"
    )
    reply = answer(methods, {"jsonrpc": "2.0", "id": 2, "method": "say", "params": ["b", True]})
    assert reply == {"jsonrpc": "2.0", "id": 2, "result": "b!"}


def test_invalid_params_are_readable_and_listed_without_the_input() -> None:
    methods = registry()
    reply = answer(methods, {"jsonrpc": "2.0", "id": 1, "method": "say", "params": {"loud": 3}})
    error = reply["error"]
    assert error["code"] == -32602
    assert "text: Field required" in error["message"]
    assert {tuple(e["loc"]) for e in error["data"]} == {("text",), ("loud",)}
    assert all("input" not in e for e in error["data"])

    too_many = answer(methods, {"jsonrpc": "2.0", "id": 1, "method": "say", "params": [1, 2, 3]})
    assert too_many["error"]["code"] == -32602
    assert "at most 2" in too_many["error"]["message"]

    no_params_wanted = {"jsonrpc": "2.0", "id": 1, "method": "status", "params": {"x": 1}}
    assert answer(methods, no_params_wanted)["error"]["code"] == -32602
    empty = {"jsonrpc": "2.0", "id": 1, "method": "status", "params": []}
    assert answer(methods, empty)["result"] == {"state": "standby"}


def test_describe_lists_every_method_with_summary_and_schema() -> None:
    methods = registry()
    methods.add("plugin.hello", nothing)
    described = answer(methods, {"jsonrpc": "2.0", "id": 1, "method": "describe"})["result"]
    by_name = {m["name"]: m for m in described["methods"]}
    assert list(by_name) == ["describe", "plugin.hello", "say", "status"]
    assert by_name["status"]["summary"] == "What the daemon is doing."
    assert by_name["status"]["params"] is None
    assert by_name["say"]["summary"] == "Speak a typed turn."
    assert by_name["say"]["params"]["required"] == ["text"]


@pytest.mark.parametrize("name", ["", "a b", ".x", "x.", "rpc.discover", "say"])
def test_unusable_or_taken_names_are_refused(name: str) -> None:
    methods = registry()
    with pytest.raises(ValueError):
        methods.add(name, nothing)


def test_notifications_get_no_reply_even_when_they_fail() -> None:
    methods = registry()
    assert answer(methods, {"jsonrpc": "2.0", "method": "say", "params": ["x"]}) is None
    assert answer(methods, {"jsonrpc": "2.0", "method": "nope"}) is None
    assert answer(methods, "") is None


def test_a_crashing_method_is_logged_and_answered_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    methods = MethodRegistry()

    async def broken(params: None, client: ClientConnection) -> None:
        raise ZeroDivisionError("secret detail")

    methods.add("broken", broken)
    with caplog.at_level(logging.ERROR, logger="voiced.control"):
        reply = answer(methods, {"jsonrpc": "2.0", "id": 9, "method": "broken"})
    assert reply == {
        "jsonrpc": "2.0",
        "id": 9,
        "error": {"code": -32603, "message": "internal error"},
    }
    assert any(record.exc_info for record in caplog.records)
