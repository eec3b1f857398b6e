"""The simulator and the daemon as real processes, and ways to watch them.

Both processes log to files in the test's own folder; the simulator's event log
(one JSON line per event in either direction, wall-clock stamped) is how tests see
exactly what the daemon sent.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests.support import forking
from tests.support.headless import private_home

PYTHON = sys.executable
SECRET_KEY = "sk-test-DO-NOT-LEAK-4f1c2a9e7b"
"""The API key every test daemon gets, so tests can look for it where it must not be."""


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class SimulatorProcess:
    """`python -m voiced.simulator --strict` with an event log, on a free loopback port;
    forked from a process that has imported it (tests.support.forking), which saves most
    of its start-up."""

    def __init__(self, folder: Path, script: dict[str, Any] | None = None, *extra: str) -> None:
        self.folder = folder
        self.event_log = folder / "simulator-events.jsonl"
        self.stderr = folder / "simulator.stderr"
        argv = [PYTHON, "-m", "voiced.simulator", "--port", "0", "--strict",
                "--event-log", str(self.event_log), *extra]
        if script is not None:
            path = folder / "script.json"
            path.write_text(json.dumps(script))
            argv += ["--script", str(path)]
        with self.stderr.open("wb") as stderr:
            self.process = forking.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=stderr, text=True)
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.process.kill()
            raise AssertionError(f"simulator did not start: {line!r}\n{self.stderr.read_text()}")
        self.base_url = line.strip().rsplit(" ", 1)[-1]

    def events(self, direction: str = "in") -> list[dict[str, Any]]:
        """Every logged event in `direction` ("in": sent by the daemon), oldest first."""
        if not self.event_log.exists():
            return []
        records = []
        lines = self.event_log.read_text().split("\n")
        for line in lines[:-1]:  # the last piece is empty, or a line still being written
            if not line.strip():
                continue
            record = json.loads(line)
            if record.get("dir") == direction:
                records.append(record)
        return records

    def received(self, type_: str) -> list[dict[str, Any]]:
        """Records of client events of `type_` the simulator received."""
        return [r for r in self.events("in") if r["event"].get("type") == type_]

    def sent(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.events("out") if r["event"].get("type") == type_]

    def invalid_events(self) -> list[dict[str, Any]]:
        return [r for r in self.events("in") if r.get("invalid")]

    def appended_audio(self, since: float = 0.0) -> tuple[np.ndarray, list[float]]:
        """The PCM16 the daemon appended after `since` (wall time), and each append's time."""
        chunks, times = [], []
        for record in self.received("input_audio_buffer.append"):
            if record["t"] >= since:
                chunks.append(np.frombuffer(base64.b64decode(record["event"]["audio"]), dtype=np.int16))
                times.append(record["t"])
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return pcm, times

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class DaemonProcess:
    """A real `voiced` process with its own runtime dir, home and control socket."""

    def __init__(
        self,
        folder: Path,
        env: dict[str, str],
        *args: str,
        config: str | None = None,
        wait_ready: bool = True,
        real: bool = False,
    ) -> None:
        """`real`: start it as a new program rather than fork it (tests.support.forking),
        for a test of what the process itself shows (/proc/PID/environ) or its own exit."""
        self.folder = folder
        self.socket = folder / "run" / "voiced" / "control.sock"
        self.stderr_path = folder / "voiced.stderr"
        self.env = {**env, **private_home(folder)}
        (folder / "run").mkdir(mode=0o700, exist_ok=True)
        argv = [str(Path(PYTHON).parent / "voiced"), "--socket", str(self.socket), *args]
        if config is not None:
            path = folder / "config.toml"
            path.write_text(config)
            argv += ["--config", str(path)]
        self.process = (subprocess.Popen if real else forking.popen)(
            argv,
            env=self.env,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr_path.open("wb"),
        )
        if wait_ready:
            self.wait_state("listening", timeout=20)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def log_file(self) -> Path:
        return self.folder / "home" / ".local" / "state" / "voiced" / "log" / "voiced.log"

    def rpc(self, method: str, params: Any = None, timeout: float = 10.0) -> dict[str, Any]:
        """One JSON-RPC request on a fresh connection; returns the whole response object."""
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
        if params is not None:
            request["params"] = params
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.socket))
            sock.sendall(json.dumps(request).encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        return json.loads(reply)

    def status(self) -> dict[str, Any]:
        return self.rpc("status")["result"]

    def try_state(self) -> str | None:
        if self.process.poll() is not None:
            raise AssertionError(f"voiced exited with {self.process.returncode}:\n{self.stderr}")
        try:
            return self.status()["state"]
        except (OSError, ValueError, KeyError):
            return None

    def wait_state(self, state: str, timeout: float = 10.0) -> None:
        wait_for(lambda: self.try_state() == state, timeout, f"state {state!r}")

    def voicectl(self, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        command = [str(Path(PYTHON).parent / "voicectl"), "--socket", str(self.socket), *args]
        return forking.run(command, env=self.env, capture_output=True, text=True, timeout=timeout)

    def terminate(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"voiced ignored SIGTERM for {timeout:g} s:\n{self.stderr}") from None
        return self.process.returncode


def daemon_env(pulse_env: dict[str, str], simulator: SimulatorProcess) -> dict[str, str]:
    """The environment of a daemon that talks to `simulator` through the test's PulseAudio."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICED_", "OPENAI_"))}
    env.update(pulse_env)
    env.update(
        {
            "OPENAI_API_KEY": SECRET_KEY,
            "VOICED_API__BASE_URL": simulator.base_url,
            "VOICED_LOGGING__LEVEL": "debug",
        }
    )
    return env


class EventReader:
    """A `subscribe`d connection read on a thread: the snapshot, then every notification."""

    def __init__(self, socket_path: Path, topics: list[str] | None = None) -> None:
        import threading

        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(socket_path))
        request = {"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"topics": topics or []}}
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        self.file = self.sock.makefile("rb")
        self.snapshot: dict[str, Any] = json.loads(self.file.readline())["result"]
        self.events: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.file:
            message = json.loads(line)
            if message.get("method") == "event":
                self.events.append(message["params"])

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e["type"] == type_]

    def wait_for(self, type_: str, timeout: float = 10.0, count: int = 1) -> list[dict[str, Any]]:
        return wait_for(lambda: len(self.of_type(type_)) >= count and self.of_type(type_), timeout,
                        f"{count} {type_} event(s)")

    def close(self) -> None:
        self.sock.close()
