"""systemd integration with a harness standing in for systemd: sd_notify datagrams,
the watchdog, SIGHUP reloads, and socket activation (no systemd --user runs here)."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env, wait_for


class NotifyListener:
    """What systemd would receive on $NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.path = path
        self.messages: list[str] = []

    def saw(self, needle: str) -> bool:
        with contextlib.suppress(TimeoutError):
            self.messages.append(self.sock.recv(4096).decode())
        return any(needle in m.split("\n") for m in self.messages)


def test_ready_status_watchdog_and_stopping(tmp_path: Path, virtual_sound: dict[str, str],
                                            simulator: SimulatorProcess) -> None:
    listener = NotifyListener(tmp_path / "notify.sock")
    env = {**daemon_env(virtual_sound, simulator), "NOTIFY_SOCKET": str(listener.path),
           "WATCHDOG_USEC": "400000"}
    daemon = DaemonProcess(tmp_path, env, wait_ready=False)
    try:
        wait_for(lambda: listener.saw("READY=1"), 20, "READY=1")
        wait_for(lambda: listener.saw("STATUS=listening"), 10, "STATUS=listening")
        listener.messages.clear()
        wait_for(lambda: listener.saw("WATCHDOG=1"), 2, "a WATCHDOG=1 ping")
        listener.messages.clear()
        wait_for(lambda: listener.saw("WATCHDOG=1"), 2, "the next WATCHDOG=1 ping")
    finally:
        daemon.terminate()
    wait_for(lambda: listener.saw("STOPPING=1"), 5, "STOPPING=1")


def test_sighup_reloads_the_configuration_into_the_session(
        tmp_path: Path, virtual_sound: dict[str, str], simulator: SimulatorProcess) -> None:
    daemon = DaemonProcess(tmp_path, daemon_env(virtual_sound, simulator),
                           config="[audio]\nvad_threshold = 0.5\n")
    try:
        (tmp_path / "config.toml").write_text("[audio]\nvad_threshold = 0.8\n")
        daemon.process.send_signal(signal.SIGHUP)
        update = wait_for(lambda: [r for r in simulator.received("session.update")
                                   if r["event"]["session"]["audio"]["input"]["turn_detection"]
                                   ["threshold"] == 0.8], 10, "a session.update with the new threshold")
        assert update
        (tmp_path / "config.toml").write_text("[audio]\nvad_threshold = 7\n")  # invalid: kept out
        daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload failed" in daemon.stderr, 10, "the reload failure logged")
        assert daemon.status()["state"] == "listening"
    finally:
        assert daemon.terminate() == 0


LAUNCH = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"""


def test_socket_activation_serves_the_inherited_socket(
        tmp_path: Path, virtual_sound: dict[str, str], simulator: SimulatorProcess) -> None:
    path = tmp_path / "activated.sock"
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(path))
    listening.listen()
    voiced = str(Path(sys.executable).parent / "voiced")
    env = {**daemon_env(virtual_sound, simulator), "LISTEN_FDS": "1", "HOME": str(tmp_path),
           "XDG_RUNTIME_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, str(listening.fileno()), voiced, "--socket", str(path)],
        env=env, pass_fds=(listening.fileno(),), stderr=subprocess.PIPE, text=True)
    listening.close()
    try:
        def state() -> str | None:
            # The socket exists (and queues a connection) before voiced serves it.
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(2)
                client.connect(str(path))
                client.sendall(b'{"jsonrpc":"2.0","id":1,"method":"status"}\n')
                try:
                    return json.loads(client.makefile().readline())["result"]["state"]
                except TimeoutError:
                    return None

        assert wait_for(lambda: state() == "listening", 20, "an answer on the activated socket")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert path.exists(), "the socket file belongs to systemd and must stay"
