"""What voicectl tests talk to and watch.

- ``daemon``: just a voiced control socket (ControlServer in a thread), for the
  request commands' output and exit codes;
- ``start_voiced``: a real voiced process and the simulator it talks to, on virtual
  devices (over the test's private PulseAudio when it asks for ``pulse``), for the commands
  that need the real thing;
- ``tmux``: a private tmux server to run ``voicectl attach`` in and read its screen.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
import trio

from tests.support import forking
from tests.support.headless import VIRTUAL_DEVICES, no_sound
from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env
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

    def __init__(self, path: Path, methods: MethodRegistry | None = None, **options: Any) -> None:
        """``methods`` default to ``daemon_methods()``; ``options`` go to the ControlServer."""
        self.path = path
        self.methods = methods or daemon_methods()
        self.options = options
        self._ready = threading.Event()
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as self._scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(ControlServer(self.path, self.methods, **self.options).serve)
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
    """A short folder standing in for the runtime and config dirs (the runtime dir private,
    as voiced and voicectl require of ``$XDG_RUNTIME_DIR``)."""
    with tempfile.TemporaryDirectory(prefix="voicectl-") as folder:
        (Path(folder) / "run").mkdir(mode=0o700)
        yield Path(folder)


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    """An environment that points voicectl at ``home`` and nowhere else."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VOICED_")}
    clean.update(XDG_RUNTIME_DIR=str(home / "run"), XDG_CONFIG_HOME=str(home / "config"),
                 TMPDIR=str(home))  # where the socket goes without a usable runtime dir
    return clean


@pytest.fixture
def daemon(home: Path) -> Iterator[Daemon]:
    with Daemon(home / "run" / "voiced" / "control.sock") as running:
        yield running


@pytest.fixture
def voicectl(env: dict[str, str]) -> Any:
    """Run the voicectl entry point as a process of its own (forked: tests.support.forking);
    no stderr may hold a traceback."""

    def run(*args: str, module: str = "voicectl") -> subprocess.CompletedProcess[str]:
        result = forking.run(
            [sys.executable, "-m", module, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


class Voiced:
    """A real voiced and its simulator; ``restart_daemon`` replaces the daemon on the same socket."""

    def __init__(self, folder: Path, sound: dict[str, str], script: dict[str, Any] | None,
                 config: str | None) -> None:
        self.folder = folder
        self.config = config
        self.simulator = SimulatorProcess(folder, script)
        self.env = daemon_env(sound, self.simulator)
        self.daemon = DaemonProcess(folder, self.env, config=config)

    @property
    def socket(self) -> Path:
        return self.daemon.socket

    def voicectl(self, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        result = self.daemon.voicectl(*args, timeout=timeout)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[str] | forking.ForkedProcess:
        """voicectl in the background, its output piped."""
        command = [str(Path(sys.executable).parent / "voicectl"), "--socket", str(self.socket), *args]
        return forking.popen(
            command, env=self.daemon.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
        )

    def restart_daemon(self) -> None:
        self.daemon.terminate()
        self.daemon = DaemonProcess(self.folder, self.env, config=self.config)

    def stop(self) -> None:
        try:
            self.daemon.terminate()
        finally:
            self.simulator.stop()
        invalid = self.simulator.invalid_events()
        assert not invalid, f"the daemon sent invalid events: {invalid[:3]}"


@pytest.fixture
def start_voiced(home: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Voiced]]:
    """Start a real voiced (and simulator) in ``home``: ``start_voiced(script=..., config=...)``.
    It is on the suite's PulseAudio when the test asks for ``pulse`` too, else on virtual
    ``null`` devices with no sound server."""
    started: list[Voiced] = []
    if "pulse" in request.fixturenames:
        sound: dict[str, str] = request.getfixturevalue("pulse").env
    else:
        sound = {**no_sound(home), **VIRTUAL_DEVICES}

    def start(script: dict[str, Any] | None = None, config: str | None = None) -> Voiced:
        voiced = Voiced(home, sound, script, config)
        started.append(voiced)
        return voiced

    yield start
    for voiced in started:
        voiced.stop()


class Tmux:
    """A private tmux server with one session of a fixed size; reads what its pane shows."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.socket = folder / "tmux.sock"
        self.env = {**env, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        for name in ("TMUX", "LINES", "COLUMNS"):  # pytest-xdist's workers have LINES=24 COLUMNS=80
            self.env.pop(name, None)

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-S", str(self.socket), "-f", "/dev/null", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start(self, command: str, width: int = 100, height: int = 30) -> None:
        """Run ``command`` in a shell; afterwards the pane says how it exited and how the
        terminal was left, and stays open to be read."""
        settings = "stty -a | tr ' ;' '\\n\\n' | grep -x -e echo -e icanon"
        shell = f'{command}; echo "exited $?"; {settings}; sleep 600'
        self.tmux("new-session", "-d", "-s", "main", "-x", str(width), "-y", str(height), shell)

    def screen(self) -> list[str]:
        return self.tmux("capture-pane", "-p", "-t", "main").splitlines()

    def text(self) -> str:
        return "\n".join(self.screen())

    def wait_for(self, check: Callable[[list[str]], Any], what: str, timeout: float = 10.0) -> list[str]:
        """Poll the screen until ``check(rows)`` is true; fail with the screen otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.screen()
            if check(rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:g} s waiting for {what}; the screen:\n" + "\n".join(rows)
                )
            time.sleep(0.05)

    def wait_text(self, text: str, timeout: float = 10.0) -> list[str]:
        return self.wait_for(lambda rows: any(text in row for row in rows), repr(text), timeout)

    def type(self, line: str) -> None:
        """Type ``line`` at the prompt and press Enter."""
        self.tmux("send-keys", "-t", "main", "-l", line)
        self.tmux("send-keys", "-t", "main", "Enter")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "main", *keys)

    def kill(self) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], env=self.env, capture_output=True)


@pytest.fixture
def tmux(home: Path) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: apt-get install -y tmux", pytrace=False)
    server = Tmux(home, dict(os.environ))
    try:
        yield server
    finally:
        server.kill()
