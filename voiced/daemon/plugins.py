"""The plugin host in the daemon: running it, and replacing it on a reload.

A reload stops the running host (its plugins shut down, their methods leave the
registry) and starts a new one that discovers and loads them again, so an edited
drop-in takes effect. The rest of the daemon reaches the plugins through this keeper,
which always speaks to the host of the moment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from voiced.config import Settings
from voiced.control import MethodRegistry
from voiced.plugin_host import DaemonAPI, PluginHost
from voiced.plugin_host.wake import GuardedDetector
from voiced.turns import Turn

log = logging.getLogger("voiced")


class PluginKeeper:
    def __init__(self, settings: Settings, daemon: DaemonAPI, methods: MethodRegistry,
                 on_loaded: Callable[[], None]) -> None:
        """`on_loaded()` runs each time a host has started (its wake detectors may differ)."""
        self.host = PluginHost(settings)
        self._daemon = daemon
        self._methods = methods
        self._on_loaded = on_loaded
        self._next: PluginHost | None = None
        self._scope = trio.CancelScope()
        self._loaded = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the host until cancelled; `started` once the first one has loaded its plugins."""
        while True:
            host = self.host
            with self._scope:
                async with trio.open_nursery() as nursery:
                    await nursery.start(host.run, self._daemon)
                    host.register_methods(self._methods)
                    self._on_loaded()
                    task_status.started()
                    task_status = trio.TASK_STATUS_IGNORED
                    self._loaded.set()
                    await trio.sleep_forever()
            host.unregister_methods(self._methods)
            if self._next is None:
                return
            self.host, self._next = self._next, None
            self._scope = trio.CancelScope()
            log.info("plugins reloaded")

    async def reload(self, settings: Settings) -> None:
        """Replace the host with one built from `settings`; returns once it has loaded."""
        self._loaded = trio.Event()
        self._next = PluginHost(settings)
        self._scope.cancel()
        await self._loaded.wait()

    # -- the host of the moment ----------------------------------------------------------

    def record(self, direction: str, pcm: bytes, ts: float) -> None:
        self.host.record(direction, pcm, ts)

    def deliver_transcript(self, turn: Turn) -> None:
        self.host.deliver_transcript(turn)

    async def voice_command(self, text: str, item_id: str | None) -> bool:
        return await self.host.voice_command(text, item_id or "")

    async def call_tool(self, name: str, arguments: str | dict[str, Any]) -> str:
        return await self.host.call_tool(name, arguments)

    async def session_config(self, session: dict[str, Any]) -> dict[str, Any]:
        return await self.host.session_config(session)

    async def wake_detectors(self) -> list[GuardedDetector]:
        return await self.host.wake_detectors()
