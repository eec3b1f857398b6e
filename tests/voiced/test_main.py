"""Start-up as a user meets it: one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support import forking
from tests.support.processes import DaemonProcess, EventReader, SimulatorProcess, daemon_env, wait_for

VOICED = str(Path(sys.executable).parent / "voiced")


def run_voiced(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
               ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VOICED_", "OPENAI_"))}
    base.update({"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
                 "XDG_RUNTIME_DIR": str(tmp_path)})
    base.update(env or {})
    return forking.run([VOICED, *args], env=base, capture_output=True, text=True, timeout=30, cwd=tmp_path)


def assert_one_line(result: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0] and lines[0].startswith("voiced: ")
    assert "Traceback" not in result.stderr


def test_missing_key_without_simulate(tmp_path: Path) -> None:
    assert_one_line(run_voiced(tmp_path), 2, "OPENAI_API_KEY")


def test_unreadable_config(tmp_path: Path) -> None:
    folder = tmp_path / "config-is-a-folder.toml"
    folder.mkdir()
    assert_one_line(run_voiced(tmp_path, "--config", str(folder), "--simulate"), 2, "cannot read config")


def test_invalid_config_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[audio]\nturn_detection = \"sometimes\"\n")
    assert_one_line(run_voiced(tmp_path, "--config", str(bad), "--simulate"), 2, "audio.turn_detection")


def test_invalid_environment_value(tmp_path: Path) -> None:
    result = run_voiced(tmp_path, "--simulate", env={"VOICED_AUDIO__CHUNK_MS": "lots"})
    assert_one_line(result, 2, "audio.chunk_ms")


def test_unknown_assistant_profile(tmp_path: Path) -> None:
    assert_one_line(run_voiced(tmp_path, "--simulate", "--assistant", "nobody"), 2, "nobody")


def test_a_dotenv_cannot_send_the_key_over_plain_ws(tmp_path: Path) -> None:
    """Guards [S]2: a `.env` where voiced starts pointing it at a ws:// server elsewhere
    ends start-up with one line (exit 2) before the key can leave in clear."""
    (tmp_path / ".env").write_text("VOICED_API__BASE_URL=ws://elsewhere.example/v1\n")
    result = run_voiced(tmp_path, env={"OPENAI_API_KEY": "sk-test-never-in-clear"})
    assert_one_line(result, 2, "api.base_url: ws:// would send the key unencrypted")



def test_busy_socket_refuses_a_second_daemon(tmp_path: Path, virtual_sound: dict[str, str],
                                             simulator: SimulatorProcess) -> None:
    (tmp_path / "first").mkdir()
    first = DaemonProcess(tmp_path / "first", daemon_env(virtual_sound, simulator))
    try:
        env = daemon_env(virtual_sound, simulator)
        result = run_voiced(tmp_path, "--socket", str(first.socket), env=env)
        assert_one_line(result, 1, "already running")
        assert first.status()["state"] == "listening"  # the first one is untouched
    finally:
        first.terminate()


def test_a_stale_socket_file_is_replaced(tmp_path: Path, virtual_sound: dict[str, str],
                                         simulator: SimulatorProcess) -> None:
    stale = tmp_path / "run" / "voiced" / "control.sock"
    stale.parent.mkdir(parents=True, mode=0o700)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(stale))  # bound, never listening: what a crashed daemon leaves
    daemon = DaemonProcess(tmp_path, daemon_env(virtual_sound, simulator))
    try:
        assert daemon.status()["state"] == "listening"
    finally:
        daemon.terminate()


def test_sd_notify_ready_and_status(tmp_path: Path, virtual_sound: dict[str, str],
                                    simulator: SimulatorProcess) -> None:
    address = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(address))
        listener.settimeout(0.2)
        env = {**daemon_env(virtual_sound, simulator), "NOTIFY_SOCKET": str(address)}
        daemon = DaemonProcess(tmp_path, env, wait_ready=False)
        messages: list[str] = []

        def received(needle: str) -> bool:
            with contextlib.suppress(TimeoutError):
                messages.append(listener.recv(4096).decode())
            return any(needle in m for m in messages)

        try:
            wait_for(lambda: received("READY=1"), 20, "READY=1")
            wait_for(lambda: received("STATUS=listening"), 10, "STATUS=listening")
        finally:
            daemon.terminate()
        wait_for(lambda: received("STOPPING=1"), 5, "STOPPING=1")


def test_simulate_needs_no_key_and_answers(tmp_path: Path, virtual_sound: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICED_", "OPENAI_"))}
    env.update(virtual_sound)
    daemon = DaemonProcess(tmp_path, env, "--simulate")
    try:
        assert daemon.status()["session"]["simulated"] is True
        reader = EventReader(daemon.socket, topics=["assistant.response.done"])
        daemon.rpc("say", {"text": "Are you there?"})
        [done] = reader.wait_for("assistant.response.done")
        assert done["data"]["status"] == "completed" and done["data"]["usage"]["total_tokens"] > 0
        reader.close()
    finally:
        assert daemon.terminate() == 0
