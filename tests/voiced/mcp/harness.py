"""A daemon assembled in this process (voiced.daemon.Daemon, the simulator on loopback, the
real control socket; stand-in sound devices) with the test MCP server as `[mcp.servers.test]`."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from tests.support import forking
from tests.voiced.daemon.test_reload import FakeAudio
from voiced.bus import Event
from voiced.config import load_settings
from voiced.daemon import Daemon, Options
from voiced.simulator import Script, Simulator

TOOL_SERVER = Path(__file__).with_name("tool_server.py")
WAIT_S = 60  # a generous bound on a loaded machine; nothing is asserted about time


def stdio_server(log: Path, name: str = "test", extra: str = "") -> str:
    """The TOML table of the test server over stdio, logging what ran to `log`."""
    command = json.dumps(forking.command([sys.executable, str(TOOL_SERVER)]))
    return (f'[mcp.servers.{name}]\ncommand = {command}\n{extra}'
            f'[mcp.servers.{name}.env]\nTOOL_SERVER_LOG = {json.dumps(str(log))}\n')


def script(*turns: dict[str, Any]) -> Script:
    return Script.from_data({"turns": list(turns)})


def call(name: str, arguments: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    """A scripted turn whose response calls `name`."""
    response: dict[str, Any] = {"function_call": {"name": name, "arguments": arguments}}
    if text is not None:
        response["text"] = text
    return {"response": response}


@dataclass
class Running:
    daemon: Daemon
    simulator: Simulator
    events: list[Event]
    log: Path

    async def wait(self, condition: Callable[[], Any], what: str) -> Any:
        with trio.move_on_after(WAIT_S):
            while not (result := condition()):
                await trio.sleep(0.02)
            return result
        raise AssertionError(f"timed out waiting for {what}")

    def received(self, kind: str | None = None) -> list[dict[str, Any]]:
        return self.simulator.received(kind)

    def offered(self) -> list[str]:
        """The function names of the last session.update."""
        updates = self.received("session.update")
        return [tool["name"] for tool in updates[-1]["session"].get("tools", [])] if updates else []

    async def offering(self, *names: str) -> None:
        await self.wait(lambda: set(names) <= set(self.offered()), f"the session to offer {names}")

    def items(self, kind: str) -> list[dict[str, Any]]:
        return [e["item"] for e in self.received("conversation.item.create") if e["item"].get("type") == kind]

    def ran(self) -> list[dict[str, Any]]:
        """What the test server ran, in order."""
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def after(self, item_type: str, index: int = -1) -> list[str]:
        """The types of the events the daemon sent after its `index`th item of `item_type`."""
        events = self.received()
        positions = [i for i, e in enumerate(events) if e["type"] == "conversation.item.create"
                     and e["item"].get("type") == item_type]
        return [e["type"] for e in events[positions[index] + 1:]]

    def published(self, kind: str) -> list[dict[str, Any]]:
        return [event.data for event in self.events if event.type == kind]

    async def answered(self, count: int) -> None:
        """Until `count` responses are done and the daemon is listening again."""
        await self.wait(lambda: len(self.published("assistant.response.done")) >= count
                        and self.daemon.state == "listening", f"{count} answers")


@asynccontextmanager
async def running(home: Path, toml: str, turns: Script | None = None) -> AsyncIterator[Running]:
    simulator = Simulator(script=turns, speed=50.0)
    config = home / "config" / "config.toml"
    async with trio.open_nursery() as nursery:
        base = await nursery.start(simulator.serve)
        config.write_text(f'[api]\nbase_url = "{base}"\n[assistant]\noutput_modalities = ["text"]\n{toml}')
        daemon = Daemon(load_settings(config), Options(config_path=config), nursery, audio=FakeAudio())
        events: list[Event] = []
        daemon.bus.listen(events.append)
        await daemon.start()
        yield Running(daemon, simulator, events, home / "ran.jsonl")
        errors = [event.data for event in events if event.type == "error"]
        assert not errors, f"the server refused what the daemon sent: {errors}"
        nursery.cancel_scope.cancel()
