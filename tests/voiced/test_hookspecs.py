"""Every hook called through the real plugin host, and guards (in datasette's manner):
each hookspec has a `test_hook_<name>` here, is documented in PLUGINS.md, and is typed."""

from __future__ import annotations

import inspect
import json
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import trio

from tests.voiced.plugin_host.fakes import hosting, make_host, wait_until
from voiced.config import RecordingConfig, Settings
from voiced.control import MethodRegistry
from voiced.plugin_host import PluginHost
from voiced.turns import Turn

ROOT = Path(__file__).resolve().parents[2]


def _specs() -> dict[str, Callable[..., Any]]:
    """Each hook a real host's plugin manager knows, with its hookspec function."""
    pm = PluginHost(Settings(), dropin_dirs=[], bundled=False).pm
    callers = {name: getattr(pm.hook, name) for name in dir(pm.hook) if name.startswith("voiced_")}
    return {name: caller.spec.function for name, caller in callers.items() if caller.spec is not None}


SPECS = _specs()
HOOKS = sorted(SPECS)


def test_every_hook_has_a_test() -> None:
    module = sys.modules[__name__]
    missing = [name for name in HOOKS if not hasattr(module, f"test_hook_{name}")]
    assert HOOKS and not missing


def test_every_hook_is_documented() -> None:
    guide = (ROOT / "PLUGINS.md").read_text()
    missing = [name for name in HOOKS if f"`{name}(" not in guide]
    assert not missing


def test_every_hook_is_typed() -> None:
    """Each argument and result has a type that resolves, and none is a bare Any."""
    untyped = []
    for name, spec in SPECS.items():
        hints = typing.get_type_hints(spec)
        for part in [*inspect.signature(spec).parameters, "return"]:
            if hints.get(part, Any) is Any:
                untyped.append(f"{name}: {part}")
    assert not untyped


def test_hook_voiced_startup(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"hello": """
        from voiced import hookimpl

        @hookimpl
        def voiced_startup(daemon):
            daemon.say("hello from " + daemon.conversation_id)
    """})

    async def main() -> None:
        async with hosting(host, daemon):
            assert daemon.calls == [("say", "hello from conv_test")]

    trio.run(main)


def test_hook_voiced_shutdown(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"bye": """
        from voiced import hookimpl

        @hookimpl
        async def voiced_shutdown(daemon):
            daemon.bus.publish("bye.done", {"state": daemon.state})
    """})

    async def main() -> None:
        async with hosting(host, daemon):
            assert not daemon.published("bye.done")
        assert daemon.published("bye.done") == [{"state": "listening"}]

    trio.run(main)


def test_hook_voiced_event(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"seen": """
        from voiced import hookimpl
        types = []

        @hookimpl
        def voiced_event(event):
            types.append(event.type)
    """})

    async def main() -> None:
        async with hosting(host, daemon):
            daemon.bus.publish("state.changed", {"state": "speaking"})
            daemon.bus.publish("user.transcript.completed", {"text": "hi"})
            plugin = host.records["seen"].plugin
            await wait_until(lambda: len(plugin.types) == 2)
            assert plugin.types == ["state.changed", "user.transcript.completed"]

    trio.run(main)


def test_hook_voiced_voice_command(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"lights": """
        from voiced import hookimpl

        @hookimpl
        async def voiced_voice_command(text, ctx):
            if "lights" in text:
                ctx.daemon.say(f"{ctx.conversation_id}/{ctx.item_id}")
                return True
    """})

    async def main() -> None:
        async with hosting(host, daemon):
            assert not await host.voice_command("what time is it", "item_1")
            assert await host.voice_command("lights off", "item_2")
            assert daemon.calls == [("say", "conv_test/item_2")]
            assert daemon.published("command.matched") == [
                {"plugin": "lights", "text": "lights off", "item_id": "item_2"}]

    trio.run(main)


def test_hook_voiced_transcript(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"sink": """
        from voiced import hookimpl
        turns = []

        @hookimpl
        def voiced_transcript(entry):
            turns.append((entry.role, entry.text, entry.conversation_id, entry.interrupted))
    """})

    async def main() -> None:
        async with hosting(host, daemon):
            host.deliver_transcript(Turn("user", "hello", "item_1", "conv_test", 1.0, 2.0))
            host.deliver_transcript(Turn("assistant", "hi th", "item_2", "conv_test", 2.5, 3.0, True))
            plugin = host.records["sink"].plugin
            await wait_until(lambda: len(plugin.turns) == 2)
            assert plugin.turns == [("user", "hello", "conv_test", False),
                                    ("assistant", "hi th", "conv_test", True)]

    trio.run(main)


def test_hook_voiced_recording_writer(tmp_path: Path) -> None:
    settings = Settings(recording=RecordingConfig(enabled=True, dir=tmp_path / "rec"))
    host, daemon = make_host(tmp_path, {"tape": """
        from voiced import hookimpl
        log = []

        class Writer:
            def __init__(self, ctx):
                log.append(("open", ctx.conversation_id, ctx.rate, ctx.dir.name))
            def write(self, direction, pcm, ts):
                log.append((direction, len(pcm), ts))
            def close(self):
                log.append(("close",))

        @hookimpl
        def voiced_recording_writer(ctx):
            return Writer(ctx)
    """}, settings=settings)

    async def main() -> None:
        async with hosting(host, daemon):
            host.record("in", bytes(960), 1.0)
            host.record("out", bytes(480), 1.02)
            daemon.conversation_id = "conv_next"
            host.record("in", bytes(960), 5.0)
            log = host.records["tape"].plugin.log
            await wait_until(lambda: len(log) == 6)
        assert log == [("open", "conv_test", 24000, "conv_test"), ("in", 960, 1.0), ("out", 480, 1.02),
                       ("close",), ("open", "conv_next", 24000, "conv_next"), ("in", 960, 5.0), ("close",)]

    trio.run(main)


def test_hook_voiced_tools(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"maths": """
        from voiced import Tool, hookimpl

        async def add(a, b):
            return {"sum": a + b}

        @hookimpl
        def voiced_tools():
            return [Tool("maths_add", "Add two numbers.", add,
                         {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                          "required": ["a", "b"]})]
    """})

    async def main() -> None:
        async with hosting(host, daemon):
            assert [tool.name for tool in host.tools()] == ["maths_add"]
            assert json.loads(await host.call_tool("maths_add", '{"a": 2, "b": 3}')) == {"sum": 5}
            assert "error" in json.loads(await host.call_tool("maths_add", '{"c": 1}'))
            assert "error" in json.loads(await host.call_tool("nope", "{}"))
            session = await host.session_config({"type": "realtime"})
            assert session["tools"] == [{"type": "function", "name": "maths_add",
                                         "description": "Add two numbers.",
                                         "parameters": host.tools()[0].parameters}]
            assert session["tool_choice"] == "auto"

    trio.run(main)


class _Client:
    pass


def test_hook_voiced_rpc_methods(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"notes": """
        from pydantic import BaseModel
        from voiced import RpcMethod, hookimpl

        class Add(BaseModel):
            text: str

        notes = []

        def add(params):
            '''Keep a note.'''
            notes.append(params.text)
            return {"count": len(notes)}

        @hookimpl
        def voiced_rpc_methods():
            return [RpcMethod("add", add, Add)]
    """})

    async def main() -> None:
        registry = MethodRegistry()
        async with hosting(host, daemon):
            host.register_methods(registry)
            assert "notes.add" in registry and "plugins" in registry
            handler = registry._methods["notes.add"].handler
            assert registry._methods["notes.add"].summary == "Keep a note."
            Add = registry._methods["notes.add"].params
            assert issubclass(Add, pydantic.BaseModel)
            assert await handler(Add(text="milk"), _Client()) == {"count": 1}
            status = await registry._methods["plugins"].handler(None, _Client())
            assert status["plugins"][0]["name"] == "notes"

    trio.run(main)


def test_hook_voiced_session_config(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"mutates": """
        from voiced import hookimpl

        @hookimpl
        def voiced_session_config(session):
            session["instructions"] = "Be brief."
    """, "returns": """
        from voiced import hookimpl

        @hookimpl
        async def voiced_session_config(session):
            return {**session, "max_output_tokens": 200}
    """})

    async def main() -> None:
        async with hosting(host, daemon):
            original = {"type": "realtime"}
            session = await host.session_config(original)
            assert session == {"type": "realtime", "instructions": "Be brief.", "max_output_tokens": 200}
            assert original == {"type": "realtime"}

    trio.run(main)


def test_hook_voiced_wake_detector(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"clap": """
        from voiced import hookimpl
        closed = []

        class Clap:
            def feed(self, pcm):
                return max(pcm) > 100
            def close(self):
                closed.append(True)

        @hookimpl
        def voiced_wake_detector(ctx):
            assert ctx.rate == 24000
            return Clap()
    """})

    async def main() -> None:
        async with hosting(host, daemon):
            [detector] = await host.wake_detectors()
            assert detector.feed(bytes(480)) is False
            detector.feed(bytes([200]) * 480)
            woke = False
            with trio.fail_after(3):
                while not woke:
                    await trio.sleep(0.01)
                    woke = detector.feed(bytes(480))
            detector.close()
            plugin = host.records["clap"].plugin
            await wait_until(lambda: plugin.closed == [True])

    trio.run(main)
