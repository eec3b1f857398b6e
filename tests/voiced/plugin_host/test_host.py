"""Isolation: plugins that raise, hang, block or fail to load never stop the others."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import trio

from tests.voiced.plugin_host.fakes import hosting, make_host, wait_until
from voiced.config import RecordingConfig, Settings
from voiced.control import MethodRegistry, RpcError
from voiced.plugin_host import PLUGIN_ERROR

GOOD = """
    from voiced import hookimpl
    seen = []

    @hookimpl
    def voiced_event(event):
        if event.type.startswith("test."):
            seen.append(event.data["n"])
"""

BAD_ONES = {
    "raiser": """
        from voiced import hookimpl

        @hookimpl
        def voiced_event(event):
            raise RuntimeError("no thanks\\nsecond line")
    """,
    "sleeper": """
        import trio
        from voiced import hookimpl

        @hookimpl
        async def voiced_event(event):
            await trio.sleep_forever()
    """,
    "blocker": """
        import time
        from voiced import hookimpl

        @hookimpl
        def voiced_event(event):
            time.sleep(1)
    """,
    "broken": "raise RuntimeError('cannot start')",
}


def test_failing_plugins_are_reported_and_disabled_while_the_others_carry_on(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"good": GOOD, **BAD_ONES}, max_failures=3)

    async def main() -> None:
        async with hosting(host, daemon):
            for n in range(6):
                daemon.bus.publish("test.tick", {"n": n})
            good = host.records["good"].plugin
            await wait_until(lambda: good.seen == list(range(6)))
            await wait_until(lambda: all(host.records[name].status == "disabled after failures"
                                         for name in ("raiser", "sleeper", "blocker")), timeout=5)
            status = {s["name"]: s for s in host.status()}
            assert status["good"]["status"] == "enabled" and status["good"]["failures"] == 0
            assert status["raiser"]["last_error"] == "voiced_event: RuntimeError: no thanks"
            assert status["raiser"]["failures"] == 3
            assert status["sleeper"]["last_error"] == "voiced_event: timed out after 0.3 s"
            assert status["blocker"]["last_error"] == (
                "voiced_event: timed out after 0.3 s (worker thread abandoned)")
            assert status["blocker"]["threads_abandoned"] >= 1
            assert status["broken"]["status"] == "failed to load"
            assert status["broken"]["last_error"] == "RuntimeError: cannot start"
            failed = daemon.published("plugin.failed")
            assert {"plugin": "raiser", "hook": "voiced_event", "error": "RuntimeError: no thanks"} in failed
            assert {f["plugin"] for f in failed} == {"raiser", "sleeper", "blocker"}
            # Disabled means unregistered: no more calls, no more failures.
            assert {host.pm.get_name(p) for p in host.pm.get_plugins()} == {"good"}
            before = len(daemon.published("plugin.failed"))
            daemon.bus.publish("test.tick", {"n": 6})
            await wait_until(lambda: good.seen[-1:] == [6])
            assert len(daemon.published("plugin.failed")) == before

    trio.run(main)


def test_a_success_resets_the_failure_count(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"flaky": """
        from voiced import hookimpl

        @hookimpl
        def voiced_event(event):
            if event.data.get("fail"):
                raise ValueError("flaky")
    """}, max_failures=2)

    async def main() -> None:
        async with hosting(host, daemon):
            for fail in (True, False, True, False):
                daemon.bus.publish("test.tick", {"fail": fail})
            await wait_until(lambda: host.records["flaky"].failures_total == 2)
            await trio.sleep(0.05)
            assert host.records["flaky"].status == "enabled"

    trio.run(main)


def test_a_slow_plugin_loses_its_oldest_events_and_never_delays_the_bus(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"slow": """
        import trio
        from voiced import hookimpl
        seen = []

        @hookimpl
        async def voiced_event(event):
            if event.type == "test.tick":
                await trio.sleep(0.05)
                seen.append(event.data["n"])
    """}, queue_size=4)

    async def main() -> None:
        async with hosting(host, daemon):
            started = time.monotonic()
            for n in range(50):
                daemon.bus.publish("test.tick", {"n": n})
            assert time.monotonic() - started < 0.05
            plugin = host.records["slow"].plugin
            await wait_until(lambda: plugin.seen[-1:] == [49])
            assert len(plugin.seen) <= 6
            assert host.records["slow"].dropped >= 44

    trio.run(main)


def test_voice_commands_skip_a_failing_plugin(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {
        "b_raises": """
            from voiced import hookimpl

            @hookimpl
            def voiced_voice_command(text):
                raise KeyError(text)
        """,
        "a_takes": """
            from voiced import hookimpl

            @hookimpl
            def voiced_voice_command(text):
                return text == "stop"
        """,
    })

    async def main() -> None:
        async with hosting(host, daemon):
            assert await host.voice_command("stop", "item_1")
            assert host.records["b_raises"].failures == 1

    trio.run(main)


def test_tool_and_method_failures_are_answered_and_reported(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"bad": """
        import time
        from voiced import RpcMethod, Tool, hookimpl
        from voiced.control import RpcError

        def explode():
            raise OSError("disk on fire")

        def hang():
            time.sleep(1)

        def refuse(params):
            raise RpcError(-32001, "not now")

        @hookimpl
        def voiced_tools():
            return [Tool("bad_explode", "Fails.", explode), Tool("bad_hang", "Hangs.", hang),
                    {"name": "bad.dotted", "description": "Bad name.", "handler": hang}]

        @hookimpl
        def voiced_rpc_methods():
            return [RpcMethod("explode", lambda params: explode()), RpcMethod("refuse", refuse),
                    RpcMethod("", refuse)]
    """})

    async def main() -> None:
        registry = MethodRegistry()
        async with hosting(host, daemon):
            assert [tool.name for tool in host.tools()] == ["bad_explode", "bad_hang"]
            assert json.loads(await host.call_tool("bad_explode", "{}")) == {"error": "OSError: disk on fire"}
            assert json.loads(await host.call_tool("bad_hang", "{}")) == {
                "error": "timed out after 0.3 s (worker thread abandoned)"}
            assert "not JSON" in json.loads(await host.call_tool("bad_hang", "{"))["error"]
            host.register_methods(registry)
            assert "bad" not in registry  # a bare name is for bundled plugins only
            with pytest.raises(RpcError) as failed:
                await registry._methods["bad.explode"].handler(None, None)
            assert failed.value.code == PLUGIN_ERROR
            with pytest.raises(RpcError) as refused:
                await registry._methods["bad.refuse"].handler(None, None)
            assert refused.value.code == -32001
            host.disable("bad")
            with pytest.raises(RpcError, match="plugin bad is disabled"):
                await registry._methods["bad.refuse"].handler(None, None)
            assert host.tools() == []

    trio.run(main)


def test_a_slow_recording_writer_drops_frames_and_never_blocks_the_audio(tmp_path: Path) -> None:
    settings = Settings(recording=RecordingConfig(enabled=True, dir=tmp_path / "rec"))
    host, daemon = make_host(tmp_path, {"slowtape": """
        import time
        from voiced import hookimpl
        written = []

        class Writer:
            def write(self, direction, pcm, ts):
                time.sleep(0.3)
                written.append(ts)
            def close(self):
                pass

        @hookimpl
        def voiced_recording_writer(ctx):
            return Writer()
    """}, settings=settings, queue_size=2)

    async def main() -> None:
        async with hosting(host, daemon):
            started = time.monotonic()
            for n in range(100):
                host.record("in", bytes(960), n * 0.02)
            assert time.monotonic() - started < 0.1
            record = host.records["slowtape"]
            await wait_until(lambda: record.last_error is not None and record.dropped > 50)
            assert "recording write: slow" in record.last_error

    trio.run(main)


def test_sync_hooks_may_call_the_daemon_from_their_thread(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"caller": """
        from voiced import hookimpl

        @hookimpl
        def voiced_event(event):
            if event.type == "test.go":  # the answer last: the test goes on when it has it
                event_daemon.when_quiet(lambda: event_daemon.pause())
                event_daemon.bus.publish("test.answer", {"state": event_daemon.state})

        @hookimpl
        def voiced_startup(daemon):
            global event_daemon
            event_daemon = daemon
    """})

    async def main() -> None:
        async with hosting(host, daemon):
            daemon.bus.publish("test.go")
            await wait_until(lambda: bool(daemon.published("test.answer")))
            daemon.finish_speaking()
            assert daemon.calls == [("pause", None)]

    trio.run(main)
