"""Sessions that end: rollover with replay and held audio, faults, fatal errors.

The simulator injects the faults (its `--fault` option); the daemon is a real process.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.processes import DaemonProcess, EventReader, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import PulseServer
from tests.support.signals import active_spans, envelope_similarity, silence, speak
from voiced.pcm import WIRE_RATE as RATE


def session_ids(simulator: SimulatorProcess) -> list[str]:
    seen: list[str] = []
    for record in simulator.events("out"):
        if record["event"].get("type") == "session.created" and record["session"] not in seen:
            seen.append(record["session"])
    return seen


def test_rollover_replays_the_conversation_and_loses_no_audio(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    # The server ends the first session (1001, as at the 60-minute cap) 4 s after it began.
    simulator = SimulatorProcess(tmp_path, None, "--fault", "action=close,code=1001,at_s=4")
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), config="[listen]\ncues = false\n")
    processes += [simulator, daemon]
    events = EventReader(daemon.socket, topics=["session"])
    daemon.rpc("say", {"text": "My name is Ada."})
    wait_for(lambda: simulator.sent("response.done"), 10, "the first answer")
    daemon.wait_state("listening", timeout=10)
    speech = speak("This sentence is spoken while the session is being replaced by a new one.", rate=RATE)
    first_append = simulator.received("input_audio_buffer.append")[0]["t"]
    time.sleep(max(0.0, first_append + 3.0 - time.time()))
    started = time.time()
    pulse.play_into_mic(np.concatenate([speech, silence(1.0)])).wait(15)
    sessions = wait_for(lambda: len(s := session_ids(simulator)) >= 2 and s, 10, "a second session")

    second = [r["event"] for r in simulator.events("in") if r["session"] == sessions[1]]
    kinds = [e["type"] for e in second]
    first_audio = kinds.index("input_audio_buffer.append")
    items = [e["item"] for e in second[:first_audio] if e["type"] == "conversation.item.create"]
    texts = [(i["role"], i["content"][0]["text"]) for i in items]
    assert ("user", "My name is Ada.") in texts and any(role == "assistant" for role, _ in texts)
    assert kinds[0] == "session.update"

    appended, _ = simulator.appended_audio(since=started)
    spoken = sum(end - start for start, end in active_spans(speech, RATE))
    arrived = sum(end - start for start, end in active_spans(appended, RATE))
    assert arrived == pytest.approx(spoken, abs=0.1), "speech during the switch was lost"
    correlation, _ = envelope_similarity(speech, appended, RATE)
    assert correlation > 0.8
    assert daemon.status()["session"]["connected"]
    assert [e["type"] for e in events.events] == ["session.disconnected", "session.rollover",
                                                  "session.connected"]
    events.close()


# Every session sees four faults and ends after its first answer; the first one is also
# dropped mid-answer (a session that never answers is a failure, and backs off).
FAULTS = [
    "action=drop,during_response=1,after_deltas=3",
    "action=close,code=1011,after_response=1,every_session=true",
    "action=malformed,frame=binary,at_s=0.2,every_session=true",
    "action=malformed,frame=no_type,at_s=0.3,every_session=true",
    "action=error,code=server_error,at_s=0.4,every_session=true",
]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.long(14)
def test_the_daemon_recovers_from_every_fault(tmp_path: Path, virtual_sound: dict[str, str],
                                              processes: list) -> None:
    args = [arg for fault in FAULTS for arg in ("--fault", fault)]
    simulator = SimulatorProcess(tmp_path, None, *args)
    daemon = DaemonProcess(tmp_path, daemon_env(virtual_sound, simulator))
    processes += [simulator, daemon]
    rounds, rss = 12, []
    for _ in range(rounds):
        sessions = daemon.status()["counts"]["sessions"]
        daemon.wait_state("listening", timeout=30)
        daemon.rpc("say", {"text": "Please answer me."})
        wait_for(lambda n=sessions: daemon.status()["counts"]["sessions"] > n, 30, "a new session")
        rss.append(rss_kib(daemon.process.pid))
    daemon.wait_state("listening", timeout=30)
    assert daemon.status()["counts"]["sessions"] >= rounds + 1
    assert rss[-1] - rss[2] < 20_000, f"memory grew from {rss[2]} to {rss[-1]} KiB"
    assert "Traceback" not in daemon.stderr


@pytest.mark.long(4)
def test_a_fatal_error_stops_retrying_until_restart(
        tmp_path: Path, virtual_sound: dict[str, str], processes: list) -> None:
    simulator = SimulatorProcess(tmp_path, None, "--fault",
                                 "action=error,code=insufficient_quota,message=No quota left.,at_s=0.5")
    daemon = DaemonProcess(tmp_path, daemon_env(virtual_sound, simulator), wait_ready=False)
    processes += [simulator, daemon]
    daemon.wait_state("error", timeout=20)
    time.sleep(3.0)
    assert len(session_ids(simulator)) == 1, "the daemon retried after a fatal error"
    result = daemon.voicectl("status")
    assert result.returncode == 0
    for shown in ("error", "insufficient_quota", "No quota left."):
        assert shown in result.stdout
    assert daemon.voicectl("restart").returncode == 0
    daemon.wait_state("listening", timeout=10)
    assert len(session_ids(simulator)) == 2


@pytest.mark.long(7)
def test_refused_connections_are_retried_with_backoff(
        tmp_path: Path, virtual_sound: dict[str, str], processes: list) -> None:
    simulator = SimulatorProcess(tmp_path, None, "--refuse-connections", "3")
    daemon = DaemonProcess(tmp_path, daemon_env(virtual_sound, simulator), wait_ready=False)
    processes += [simulator, daemon]
    daemon.wait_state("listening", timeout=30)
    refused = [r["t"] for r in simulator.events("sim") if r["event"].get("type") == "sim.refused"]
    assert len(refused) == 3
    gaps = np.diff(refused)
    assert gaps[1] > gaps[0] * 0.9 or gaps[1] >= 0.9, f"no backoff between attempts: {gaps}"


def test_backoff_grows_with_jitter_up_to_its_cap() -> None:
    import random

    from voiced.daemon.sessions import BACKOFF_CAP_S, backoff_delay

    rng = random.Random(1)
    for failures, (low, high) in {1: (0.5, 1.0), 2: (1.0, 2.0), 3: (2.0, 4.0), 10: (15.0, 30.0)}.items():
        delays = [backoff_delay(failures, rng) for _ in range(50)]
        assert low <= min(delays) and max(delays) <= min(high, BACKOFF_CAP_S)
        assert len(set(delays)) > 40, "no jitter"
