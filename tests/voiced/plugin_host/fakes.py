"""A stand-in daemon for plugin tests, and a way to run a real PluginHost for it."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from voiced.bus import Bus, Event
from voiced.config import Settings
from voiced.plugin_host import PluginHost, Timeouts

FAST = Timeouts(startup=1.0, shutdown=1.0, event=0.3, command=0.3, tool=0.3, rpc=0.3, session=0.3,
                wake=0.3, slow_write=0.2)


class FakeDaemon:
    """Implements `DaemonAPI`; records what plugins asked of it."""

    def __init__(self, data_dir: Path, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.bus = Bus()
        self.state = "listening"
        self.conversation_id = "conv_test"
        self.data_dir = data_dir
        self.calls: list[tuple[str, Any]] = []
        self.quiet_callbacks: list[Callable[[], None]] = []
        self.events: list[Event] = []
        self.bus.listen(self.events.append)

    def say(self, text: str) -> None:
        self.calls.append(("say", text))

    def pause(self) -> None:
        self.calls.append(("pause", None))

    def resume(self) -> None:
        self.calls.append(("resume", None))

    def restart(self) -> None:
        self.calls.append(("restart", None))

    def standby(self) -> None:
        self.calls.append(("standby", None))

    def stop(self) -> None:
        self.calls.append(("stop", None))

    def when_quiet(self, callback: Callable[[], None]) -> None:
        self.quiet_callbacks.append(callback)

    def finish_speaking(self) -> None:
        callbacks, self.quiet_callbacks = self.quiet_callbacks, []
        for callback in callbacks:
            callback()

    def published(self, type_: str) -> list[dict[str, Any]]:
        return [event.data for event in self.events if event.type == type_]


def write_plugins(folder: Path, sources: dict[str, str]) -> Path:
    """Drop-in files `NAME.py` with the (dedented) sources; the folder. The modes are set,
    not left to the umask: a group-writable drop-in is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    for name, source in sources.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
        (folder / f"{name}.py").chmod(0o644)
    return folder


def make_host(tmp_path: Path, sources: dict[str, str] | None = None, *, settings: Settings | None = None,
              bundled: bool = False, **kwargs: Any) -> tuple[PluginHost, FakeDaemon]:
    settings = settings or Settings()
    folder = write_plugins(tmp_path / "dropins", sources or {})
    host = PluginHost(settings, dropin_dirs=[folder], bundled=bundled, timeouts=kwargs.pop("timeouts", FAST),
                      **kwargs)
    return host, FakeDaemon(tmp_path / "data", settings)


@asynccontextmanager
async def hosting(host: PluginHost, daemon: FakeDaemon) -> AsyncIterator[PluginHost]:
    """The host running in a nursery (started, then cancelled and shut down on exit)."""
    async with trio.open_nursery() as nursery:
        await nursery.start(host.run, daemon)
        try:
            yield host
        finally:
            nursery.cancel_scope.cancel()


async def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.01)
