"""The daemon end to end: real processes, real PulseAudio, the simulator over a real WebSocket.

Speech goes into the `voiced_mic` null sink (the daemon's microphone is its monitor);
what the daemon plays is recorded from the `voiced_speaker` monitor. The simulator runs
with strict validation, and every test fails if the daemon sent it an invalid event.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tests.support.processes import (
    SECRET_KEY,
    DaemonProcess,
    EventReader,
    SimulatorProcess,
    wait_for,
)
from tests.support.pulse import PulseServer
from tests.support.signals import active_spans, envelope_similarity, silence, speak
from voiced.pcm import WIRE_RATE as RATE


@pytest.fixture(scope="module")
def utterance() -> np.ndarray:
    return speak("Hello there. What is the weather like today?", rate=RATE)


def test_speech_reaches_the_simulator_and_its_answer_reaches_the_speaker(
        pulse: PulseServer, simulator: SimulatorProcess, daemon: DaemonProcess,
        utterance: np.ndarray) -> None:
    speaker = pulse.record_speaker()
    speaker.wait_for_data()
    started = time.time()
    pulse.play_into_mic(np.concatenate([utterance, silence(1.0)])).wait(15)
    wait_for(lambda: simulator.sent("response.done"), 15, "the simulator's response")
    daemon.wait_state("listening", timeout=15)
    time.sleep(0.3)
    heard = speaker.stop()[speaker.sample_index_at(started):]

    appended, _ = simulator.appended_audio(since=started)
    correlation, _ = envelope_similarity(utterance, appended, RATE)
    assert correlation > 0.8, f"appended audio does not follow the speech (r={correlation:.2f})"

    spoken = sum(end - start for start, end in active_spans(utterance, RATE))
    played = sum(end - start for start, end in active_spans(heard, RATE))
    assert played == pytest.approx(spoken, abs=0.3), "the echoed answer did not come out whole"
    correlation, _ = envelope_similarity(utterance, heard, RATE)
    assert correlation > 0.7, f"the speaker did not play the answer (r={correlation:.2f})"


def test_pause_stops_appends_and_resume_restarts_them(
        simulator: SimulatorProcess, daemon: DaemonProcess) -> None:
    wait_for(lambda: simulator.received("input_audio_buffer.append"), 5, "appends while listening")
    result = daemon.voicectl("pause")
    acknowledged = time.time()
    assert result.returncode == 0, result.stderr
    assert daemon.status()["state"] == "paused"
    time.sleep(1.0)
    late = [r["t"] for r in simulator.received("input_audio_buffer.append") if r["t"] > acknowledged + 0.1]
    assert not late, f"{len(late)} appends arrived more than 100 ms after pause"

    assert daemon.voicectl("resume").returncode == 0
    resumed = time.time()
    wait_for(lambda: [r for r in simulator.received("input_audio_buffer.append") if r["t"] > resumed],
             2, "appends after resume")
    assert daemon.status()["state"] == "listening"


def test_nothing_heard_while_paused_is_sent_after_resume(
        simulator: SimulatorProcess, daemon: DaemonProcess, pulse: PulseServer) -> None:
    # A hum too quiet to stand out travels late, in batches; none of it may be sent after
    # resume if it was captured while paused. Three rounds: a batch may have just gone.
    hum = (np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE) * 0.0025 * 32767).astype(np.int16)  # -55 dBFS
    for _ in range(3):
        daemon.rpc("pause")
        time.sleep(0.3)
        pulse.play_into_mic(hum).wait(5)
        time.sleep(0.08)  # the hum's last samples have reached the microphone
        resumed = time.time()
        daemon.rpc("resume")
        time.sleep(0.5)
        after, _ = simulator.appended_audio(since=resumed)
        assert len(after), "no audio after resume"
        assert not np.any(after), "audio captured while paused was sent after resume"


LONG_ANSWER = {"turns": [{"transcript": "Tell me a long story.",
                          "response": {"text": "Once upon a time there was a very long tone.",
                                       "audio": {"tone_s": 8.0, "freq": 440}}}]}


@pytest.mark.script(LONG_ANSWER)
def test_interrupt_silences_the_speaker_and_truncates_to_what_was_heard(
        pulse: PulseServer, simulator: SimulatorProcess, daemon: DaemonProcess,
        utterance: np.ndarray) -> None:
    speaker = pulse.record_speaker()
    speaker.wait_for_data()
    started = time.time()
    pulse.play_into_mic(np.concatenate([utterance, silence(0.8)])).wait(15)
    daemon.wait_state("speaking", timeout=15)
    time.sleep(1.5)
    result = daemon.voicectl("interrupt", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["interrupted"] is True
    truncate = wait_for(lambda: simulator.received("conversation.item.truncate"), 5, "a truncate")
    time.sleep(1.0)
    heard = speaker.stop()[speaker.sample_index_at(started):]

    spans = active_spans(heard, RATE)
    assert len(spans) == 1, f"expected one stretch of answer, heard {spans}"
    heard_ms = (spans[0][1] - spans[0][0]) * 1000
    assert len(heard) / RATE - spans[0][1] > 0.8, "the speaker did not go silent"
    audio_end_ms = truncate[0]["event"]["audio_end_ms"]
    latency_ms = daemon.status()["devices"]["output_latency_ms"]
    assert abs(audio_end_ms - heard_ms) <= 60 + latency_ms, (
        f"truncate says {audio_end_ms} ms, the speaker played {heard_ms:.0f} ms")
    assert not simulator.received("response.cancel") or simulator.sent("response.done")


@pytest.mark.script(LONG_ANSWER)
@pytest.mark.simulator_args("--no-session-id")
def test_an_interrupted_answer_is_truncated_when_the_server_sends_no_session_id(
        simulator: SimulatorProcess, daemon: DaemonProcess) -> None:
    """Guards [E]4: items were keyed by `session.id`, which the GA schema does not promise;
    against a server omitting it voiced sent no truncate after an interruption."""
    assert "id" not in simulator.sent("session.created")[0]["event"]["session"]
    daemon.rpc("say", {"text": "Tell me a long story."})
    daemon.wait_state("speaking", timeout=15)
    time.sleep(0.5)
    assert daemon.voicectl("interrupt").returncode == 0
    [truncate] = wait_for(lambda: simulator.received("conversation.item.truncate"), 5, "a truncate")
    assert truncate["event"]["audio_end_ms"] > 0
    assert not simulator.invalid_events()


@pytest.mark.script(LONG_ANSWER)
def test_speaking_over_the_answer_silences_it_and_truncates_to_what_was_heard(
        pulse: PulseServer, simulator: SimulatorProcess, daemon: DaemonProcess,
        utterance: np.ndarray) -> None:
    events = EventReader(daemon.socket)
    speaker = pulse.record_speaker()
    speaker.wait_for_data()
    started = time.time()
    pulse.play_into_mic(np.concatenate([utterance, silence(0.8)])).wait(15)
    daemon.wait_state("speaking", timeout=15)
    time.sleep(1.5)
    pulse.play_into_mic(utterance[: RATE]).wait(5)  # "Hello there" over the answer
    truncate = wait_for(lambda: simulator.received("conversation.item.truncate"), 5, "a truncate")
    time.sleep(1.0)
    heard = speaker.stop()[speaker.sample_index_at(started):]
    events.wait_for("assistant.interrupted")

    # The answer, then silence until the answer to the words spoken over it begins.
    spans = active_spans(heard, RATE)
    next_answer = [r["t"] for r in simulator.sent("response.created")][1:] or [time.time()]
    next_answer_s = next_answer[0] - started
    assert spans and all(start >= next_answer_s for start, _ in spans[1:]), (
        f"the speaker did not go silent: {spans}, next answer at {next_answer_s:.2f} s")
    heard_ms = (spans[0][1] - spans[0][0]) * 1000
    audio_end_ms = truncate[0]["event"]["audio_end_ms"]
    latency_ms = daemon.status()["devices"]["output_latency_ms"]
    assert abs(audio_end_ms - heard_ms) <= 60 + latency_ms, (
        f"truncate says {audio_end_ms} ms, the speaker played {heard_ms:.0f} ms")
    # server VAD cancels the response itself: the daemon must not cancel it again
    assert not simulator.received("response.cancel")
    [interrupted] = events.of_type("assistant.interrupted")
    assert interrupted["data"]["played_ms"] == audio_end_ms
    final = [e["data"] for e in events.of_type("assistant.transcript.completed")]
    assert len(final) == 1 and final[0]["interrupted"] is True
    full = LONG_ANSWER["turns"][0]["response"]["text"]
    assert full.startswith(final[0]["text"]) and 0 < len(final[0]["text"]) < len(full)
    events.close()


def test_the_key_appears_in_no_output(simulator: SimulatorProcess, daemon: DaemonProcess) -> None:
    outputs = {
        "status": json.dumps(daemon.rpc("status")),
        "describe": json.dumps(daemon.rpc("describe")),
        "voicectl status --json": daemon.voicectl("status", "--json").stdout,
        "voicectl devices --json": daemon.voicectl("devices", "--json").stdout,
    }
    assert daemon.terminate() == 0
    outputs["stderr (debug)"] = daemon.stderr
    outputs["log file (debug)"] = daemon.log_file().read_text()
    assert "debug" in outputs["log file (debug)"].lower()
    for where, text in outputs.items():
        assert text, f"{where} is empty"
        assert SECRET_KEY not in text, f"the API key leaked into {where}"


def test_sigterm_stops_cleanly_and_removes_the_socket(daemon: DaemonProcess) -> None:
    assert daemon.socket.exists()
    assert daemon.terminate() == 0
    assert not daemon.socket.exists()
    assert "Traceback" not in daemon.stderr
