"""A real voiced control socket (ControlServer in a thread) for voicectl to talk to."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
import trio

from voiced.control import ClientConnection, ControlServer, MethodRegistry, RpcError

STATUS = {
    "state": "listening",
    "session": {"connected": True, "model": "gpt-realtime"},
    "devices": {"input": "USB Mic", "output": None},
    "uptime_s": 3725,
}


class EchoParams(pydantic.BaseModel):
    text: str


def daemon_methods() -> MethodRegistry:
    methods = MethodRegistry()

    async def status(params: None, client: ClientConnection) -> dict[str, Any]:
        return STATUS

    async def quiet(params: None, client: ClientConnection) -> dict[str, Any]:
        return {}

    async def devices(params: None, client: ClientConnection) -> dict[str, Any]:
        return {"input": [{"index": 0, "name": "USB Mic"}], "output": []}

    async def echo(params: EchoParams, client: ClientConnection) -> dict[str, Any]:
        return {"text": params.text}

    async def refuse(params: None, client: ClientConnection) -> None:
        raise RpcError(-32001, "voiced is paused", {"state": "paused"})

    methods.add("status", status)
    for name in ("pause", "resume", "interrupt"):
        methods.add(name, quiet)
    methods.add("devices", devices)
    methods.add("echo", echo, EchoParams)
    methods.add("refuse", refuse)
    return methods


class Daemon:
    """Just the control socket of a voiced, served by trio in a background thread."""

    status = STATUS

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = threading.Event()
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as self._scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(ControlServer(self.path, daemon_methods()).serve)
                self._ready.set()

    def __enter__(self) -> Daemon:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._thread.is_alive():
            trio.from_thread.run_sync(self._scope.cancel, trio_token=self._token)
            self._thread.join(10)


@pytest.fixture
def home() -> Iterator[Path]:
    """A short folder standing in for the runtime and config dirs."""
    with tempfile.TemporaryDirectory(prefix="voicectl-") as folder:
        yield Path(folder)


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    """An environment that points voicectl at ``home`` and nowhere else."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VOICED_")}
    clean.update(XDG_RUNTIME_DIR=str(home / "run"), XDG_CONFIG_HOME=str(home / "config"))
    return clean


@pytest.fixture
def daemon(home: Path) -> Iterator[Daemon]:
    with Daemon(home / "run" / "voiced" / "control.sock") as running:
        yield running


@pytest.fixture
def voicectl(env: dict[str, str]) -> Any:
    """Run the voicectl entry point as a real process; no stderr may hold a traceback."""

    def run(*args: str, module: str = "voicectl") -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", module, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run
