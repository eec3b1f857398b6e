"""What a running voiced leaves where other users could see it: its files, its environment,
and what its systemd unit allows."""

from __future__ import annotations

import configparser
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import (
    SECRET_KEY,
    DaemonProcess,
    EventReader,
    SimulatorProcess,
    daemon_env,
    wait_for,
)

UNIT = Path(__file__).parents[2] / "contrib" / "systemd" / "voiced.service"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The test's processes start with umask 022, as a login shell would give them."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_history_recordings_transcripts_and_the_log_are_the_users_alone(
        tmp_path: Path, virtual_sound: dict[str, str], simulator: SimulatorProcess,
        permissive_umask: None) -> None:
    """Guards [S]6: every file voiced and its bundled plugins write is 0600, in 0700
    folders, even started with umask 022 and with a data folder an older voiced left 0755."""
    data = tmp_path / "home" / ".local" / "share" / "voiced"
    data.mkdir(parents=True)
    data.chmod(0o755)
    env = {k: v for k, v in daemon_env(virtual_sound, simulator).items() if k != "JOURNAL_STREAM"}
    daemon = DaemonProcess(tmp_path, env, "--save-recordings")
    try:
        reader = EventReader(daemon.socket, topics=["assistant.response.done"])
        daemon.rpc("say", {"text": "Remember the word marmalade."})
        reader.wait_for("assistant.response.done", timeout=15)
        reader.close()
        wait_for(lambda: list((data / "transcripts").glob("*.jsonl")), 10, "a transcript")
    finally:
        assert daemon.terminate() == 0, daemon.stderr
    log_dir = daemon.log_file().parent
    written = {path.relative_to(tmp_path / "home").as_posix(): path
               for folder in (data, log_dir) for path in folder.rglob("*")}
    for expected in (".local/share/voiced/history.sqlite3", ".local/share/voiced/recordings",
                     ".local/state/voiced/log/voiced.log"):
        assert expected in written, sorted(written)
    assert any(name.endswith(".wav") for name in written), sorted(written)
    assert any(name.endswith(".jsonl") for name in written), sorted(written)
    wrong = {name: oct(mode(path)) for name, path in written.items()
             if mode(path) != (0o700 if path.is_dir() else 0o600)}
    assert not wrong
    assert (mode(data), mode(log_dir)) == (0o700, 0o700)


@pytest.mark.simulator_args("--api-key", SECRET_KEY)
@pytest.mark.parametrize("variable", ["OPENAI_API_KEY", "VOICED_API__KEY"])
def test_the_key_leaves_the_environment_and_a_reload_keeps_it(
        tmp_path: Path, virtual_sound: dict[str, str], simulator: SimulatorProcess, variable: str) -> None:
    """Guards [S]15: once read, the key is gone from the daemon's environment (plugins,
    child processes and /proc/PID/environ never carry it), yet a reload still has it: the
    next session, on a simulator that takes only that key, is accepted."""
    seen = tmp_path / "plugin-environ.txt"
    plugins = tmp_path / "home" / ".config" / "voiced" / "plugins"
    plugins.mkdir(parents=True, mode=0o755)
    (plugins / "snoop.py").write_text(f"import os\nopen({str(seen)!r}, 'w').write(repr(dict(os.environ)))\n")
    (plugins / "snoop.py").chmod(0o644)
    env = {k: v for k, v in daemon_env(virtual_sound, simulator).items() if k != "OPENAI_API_KEY"}
    daemon = DaemonProcess(tmp_path, {**env, variable: SECRET_KEY}, real=True)  # its own environ
    try:
        assert "XDG_RUNTIME_DIR" in seen.read_text() and SECRET_KEY not in seen.read_text()
        environ = Path(f"/proc/{daemon.process.pid}/environ").read_bytes()
        assert SECRET_KEY.encode() not in environ
        assert not [entry for entry in environ.split(b"\0") if entry.startswith(variable.encode() + b"=")]
        daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in daemon.stderr, 10, "the reload")
        daemon.rpc("restart")
        wait_for(lambda: len(simulator.sent("session.created")) >= 2, 15, "a second session")
        assert not simulator.sent("error"), simulator.sent("error")
    finally:
        daemon.terminate()


def test_the_unit_keeps_files_private_and_dumps_no_core() -> None:
    """Guards [S]6 and [S]15: under systemd, new files are 0600 and a crash writes no core
    dump holding the key."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT)
    assert unit["Service"]["UMask"] == "0077"
    assert unit["Service"]["LimitCORE"] == "0"
