"""Announcements and the output volume end to end: a real voiced, the simulator, voicectl."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.support.processes import DaemonProcess, EventReader, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import PulseServer


def said(events: EventReader, count: int = 1) -> list[str]:
    return [e["data"]["text"] for e in events.wait_for("assistant.transcript.completed", 20, count)]


def test_announce_says_the_text_without_a_user_turn(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    simulator = SimulatorProcess(tmp_path)
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), config="[listen]\ncues = false\n")
    processes += [simulator, daemon]
    events = EventReader(daemon.socket, ["assistant.transcript", "user.transcript"])
    result = daemon.voicectl("announce", "The", "washing", "machine", "is", "done.")
    assert result.returncode == 0, result.stderr
    assert said(events) == ["The washing machine is done."]
    assert not events.of_type("user.transcript.completed")
    assert [r["event"]["type"] for r in simulator.received("conversation.item.create")] == []

    empty = daemon.voicectl("announce", "  ")
    assert empty.returncode == 1 and "announce needs some text" in empty.stderr
    reply = daemon.rpc("announce", {"text": ""})
    assert reply["error"]["code"] == -32602
    events.close()


def test_announce_in_standby_wakes_for_it_and_goes_back(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    simulator = SimulatorProcess(tmp_path)
    config = '[listen]\nmode = "wake"\ncues = false\n'
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), config=config, wait_ready=False)
    processes += [simulator, daemon]
    daemon.wait_state("standby", timeout=20)
    events = EventReader(daemon.socket, ["assistant.transcript", "state.changed"])
    result = daemon.voicectl("announce", "--json", "Someone is at the door.")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["state"] != "standby"
    assert said(events) == ["Someone is at the door."]
    wait_for(lambda: events.of_type("state.changed")[-1]["data"]["state"] == "standby", 20,
             "standby after the announcement")
    states = [e["data"]["state"] for e in events.of_type("state.changed")]
    assert "speaking" in states
    assert daemon.status()["listen"]["last_change_reason"] == "announcement said"
    events.close()


def test_volume_is_set_read_and_kept_over_a_restart(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    simulator = SimulatorProcess(tmp_path)
    env = daemon_env(pulse.env, simulator)
    daemon = DaemonProcess(tmp_path, env)
    processes += [simulator, daemon]
    assert json.loads(daemon.voicectl("volume", "--json").stdout) == {"level": 100}
    assert daemon.voicectl("volume", "40").returncode == 0
    assert daemon.voicectl("volume").stdout.split() == ["level:", "40"]
    bad = daemon.voicectl("volume", "140")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert daemon.rpc("volume", {"level": -1})["error"]["code"] == -32602
    saved = tmp_path / "home" / ".local" / "share" / "voiced" / "volume.json"
    wait_for(lambda: saved.exists() and json.loads(saved.read_text()) == {"level": 40}, 10, "the saved level")
    daemon.terminate()
    processes.remove(daemon)
    daemon = DaemonProcess(tmp_path, env)
    processes.append(daemon)
    assert daemon.rpc("volume")["result"] == {"level": 40}


def test_the_volume_scales_what_the_speaker_plays(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    simulator = SimulatorProcess(tmp_path)
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), config="[listen]\ncues = false\n")
    processes += [simulator, daemon]
    events = EventReader(daemon.socket, ["assistant.response.done", "state.changed"])

    def loudness_of_an_announcement(count: int) -> float:
        with pulse.record_speaker() as speaker:
            speaker.wait_for_data()
            daemon.voicectl("announce", "Tea is ready.")
            events.wait_for("assistant.response.done", 20, count)
            daemon.wait_state("listening", timeout=20)
            pcm = speaker.stop()
        return float(np.percentile(np.abs(pcm.astype(np.float64)), 99.5))

    full = loudness_of_an_announcement(1)
    daemon.voicectl("volume", "50")  # a quarter of the amplitude
    half = loudness_of_an_announcement(2)
    assert full > 1000
    assert 0.15 < half / full < 0.35, (half, full)
    events.close()
