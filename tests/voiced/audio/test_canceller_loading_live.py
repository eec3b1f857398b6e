"""The echo canceller's library is loaded when standby first ends, not before (on the
suite's PulseAudio: with a virtual device there is no echo path, and no canceller)."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import PulseServer


def canceller_loaded(daemon: DaemonProcess) -> bool:
    maps = Path(f"/proc/{daemon.process.pid}/maps").read_text()
    return "livekit" in maps


def test_a_daemon_in_standby_has_not_loaded_the_canceller_and_waking_loads_it(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    """Guards issue 10 item 5: `echo = "aec"` (the default) loaded WebRTC's audio processing
    (13 MB of resident memory) at start-up, also for a daemon that waits in standby; it is
    needed only once voiced listens, and is started then, in a worker thread."""
    simulator = SimulatorProcess(tmp_path)
    config = '[listen]\nmode = "wake"\ncues = false\n'
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), config=config, wait_ready=False)
    processes += [simulator, daemon]
    daemon.wait_state("standby", timeout=20)
    assert daemon.status()["devices"]["echo"]["mode"] == "aec"
    assert not canceller_loaded(daemon), "the canceller was loaded in standby"
    assert daemon.rpc("wake") is not None
    daemon.wait_state("listening", timeout=20)
    wait_for(lambda: canceller_loaded(daemon), 10, "the canceller to be loaded once listening")
    assert daemon.status()["devices"]["echo"]["mode"] == "aec"


def test_a_daemon_with_the_canceller_loaded_stops_cleanly_with_its_last_log_line(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    """Guards a CI failure: livekit's native runtime threads panicked, and aborted the process
    (SIGABRT), as the interpreter finalized under them after a clean stop. voiced now ends the
    process itself once everything it owns is closed, its logs flushed."""
    simulator = SimulatorProcess(tmp_path)
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), real=True)  # its own exit
    processes += [simulator, daemon]
    wait_for(lambda: canceller_loaded(daemon), 10, "the canceller to be loaded")
    assert daemon.terminate() == 0, daemon.stderr
    assert "voiced stopped" in daemon.stderr.splitlines()[-1], daemon.stderr[-2000:]
    assert "panicked" not in daemon.stderr and not daemon.socket.exists()
