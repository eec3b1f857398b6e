"""Whatever the model sends a tool and whatever a tool does, the call ends in an output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from tests.voiced.plugin_host.fakes import hosting, make_host
from voiced.plugin_host.tools import parse_arguments

DEEP = "[" * 5000 + "]" * 5000

TOOLS = {"tools": """
    import sys
    from voiced import Tool, hookimpl

    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no message")

    class Stop(BaseException):
        pass

    def echo(value=None):
        return {"value": value}

    def exits():
        sys.exit(3)

    async def stops():
        raise Stop("a BaseException of its own")

    def unprintable():
        raise Unprintable()

    def circular():
        loop = []
        loop.append(loop)
        return loop

    @hookimpl
    def voiced_tools():
        return [Tool(name=f.__name__, description="", parameters={}, handler=f)
                for f in (echo, exits, stops, unprintable, circular)]
"""}


def error_of(output: str) -> str:
    return json.loads(output)["error"]


@pytest.mark.parametrize(("arguments", "error"), [
    ('{"value": ' + DEEP + "}", "arguments are nested too deeply"),
    (DEEP, "arguments are nested too deeply"),
    ("{", "arguments are not JSON"),
    ("[1, 2]", "arguments must be a JSON object"),
])
def test_hostile_arguments_are_the_models_mistake(arguments: str, error: str) -> None:
    """Guards [S]1: JSON nested 5000 deep raised RecursionError out of the tool call."""
    parsed = parse_arguments(arguments)
    assert isinstance(parsed, str) and parsed.startswith(error)


def test_every_failure_of_a_tool_is_an_error_output(tmp_path: Path) -> None:
    """Guards [S]1: a tool call never raises (deep arguments, SystemExit, a BaseException of
    the plugin's own, an exception without a message, a result that is not JSON); each is an
    error output, and the plugin's failures are counted."""
    host, daemon = make_host(tmp_path, TOOLS, max_failures=100)

    async def main() -> None:
        async with hosting(host, daemon):
            assert error_of(await host.call_tool("echo", '{"value": ' + DEEP + "}")) == (
                "arguments are nested too deeply")
            assert error_of(await host.call_tool("exits", "{}")) == "SystemExit: 3"
            assert error_of(await host.call_tool("stops", "{}")) == "Stop: a BaseException of its own"
            assert error_of(await host.call_tool("unprintable", "{}")) == "Unprintable"
            assert error_of(await host.call_tool("circular", "{}")) == "the tool's result could not be read"
            assert json.loads(await host.call_tool("echo", '{"value": 1}')) == {"value": 1}

    trio.run(main)
    assert host.records["tools"].failures_total == 4
    assert [event["hook"] for event in daemon.published("plugin.failed")] == [
        "tool exits", "tool stops", "tool unprintable", "tool circular"]


def test_cancelling_a_tool_call_is_not_the_plugins_failure(tmp_path: Path) -> None:
    """Guards [S]1 (the other way): the wider catch must not swallow trio.Cancelled."""
    host, daemon = make_host(tmp_path, {"slow": """
        import trio
        from voiced import Tool, hookimpl

        async def wait():
            await trio.sleep_forever()

        @hookimpl
        def voiced_tools():
            return [Tool(name="wait", description="", parameters={}, handler=wait)]
    """})

    async def main() -> None:
        async with hosting(host, daemon):
            with trio.move_on_after(0.05) as scope:
                await host.call_tool("wait", "{}")
            assert scope.cancelled_caught

    trio.run(main)
    assert host.records["slow"].failures_total == 0


SESSION_HOOKS = {"deep_session": """
    from voiced import hookimpl

    @hookimpl
    def voiced_session_config(session):
        deep = {}
        for _ in range(100_000):
            deep = {"x": deep}
        session["instructions"] = deep
        return session
""", "sets": """
    from voiced import hookimpl

    @hookimpl
    def voiced_session_config(session):
        session["tools"] = {"not", "a", "list"}
""", "kind": """
    from voiced import hookimpl

    @hookimpl
    def voiced_session_config(session):
        session["instructions"] = "Be kind."
"""}


def test_a_session_a_plugin_cannot_send_is_its_failure_not_the_daemons(tmp_path: Path) -> None:
    """Guards [S]1's sibling: a `voiced_session_config` returning data nested past the
    recursion limit made the next copy raise RecursionError, which nothing caught; one
    holding a set made the session unsendable. Each is that plugin's failure, the others'
    changes are kept."""
    host, daemon = make_host(tmp_path, SESSION_HOOKS, max_failures=100)

    async def main() -> dict:
        async with hosting(host, daemon):
            return await host.session_config({"type": "realtime", "instructions": "Be brief."})

    session = trio.run(main)
    assert session["instructions"] == "Be kind."
    assert "tools" not in session
    assert json.dumps(session)
    assert {event["plugin"] for event in daemon.published("plugin.failed")} == {"deep_session", "sets"}
