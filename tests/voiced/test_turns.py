"""Turn records: a user transcript that arrives after the answer still lands on its turn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.processes import DaemonProcess, EventReader, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import PulseServer
from tests.support.signals import silence, speak
from voiced.bus import Event
from voiced.turns import LatencyTracker, TurnRecorder

LATE = {"turns": [{"transcript": "What is the capital of Portugal?", "transcript_delay_s": 2.5,
                   "response": {"text": "Lisbon.", "audio": {"tone_s": 0.6}}}]}


@pytest.mark.script(LATE)
def test_a_late_transcript_is_attached_to_its_turn(
        tmp_path: Path, pulse: PulseServer, simulator: SimulatorProcess) -> None:
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator))
    try:
        events = EventReader(daemon.socket)
        speech = speak("What is the capital of Portugal?", rate=24_000)
        pulse.play_into_mic(np.concatenate([speech, silence(1.0)])).wait(15)
        [done] = events.wait_for("assistant.response.done", timeout=15)
        [transcript] = events.wait_for("user.transcript.completed", timeout=10)
        assert transcript["ts"] > done["ts"], "the transcript was meant to arrive after the answer"
        [committed] = [r["event"]["item_id"] for r in simulator.sent("input_audio_buffer.committed")]
        [started] = events.of_type("user.speech.started")
        assert transcript["data"]["item_id"] == started["data"]["item_id"] == committed

        def user_turns() -> list[dict]:
            turns = json.loads(daemon.voicectl("history", "--json").stdout)["turns"]
            return [t for t in turns if t["role"] == "user"]

        [turn] = wait_for(user_turns, 10, "the user turn in the history")
        assert turn["text"] == "What is the capital of Portugal?" and turn["item_id"] == committed
        assert turn["started_at"] == pytest.approx(started["ts"], abs=0.01)
        events.close()
    finally:
        assert daemon.terminate() == 0


def test_turn_records_use_speech_times_and_close_on_the_transcript() -> None:
    recorder = TurnRecorder("conv_1")
    assert recorder.observe(Event("user.speech.started", {"item_id": "u1"}, ts=10.0)) == []
    assert recorder.observe(Event("user.speech.stopped", {"item_id": "u1"}, ts=12.0)) == []
    assert recorder.observe(Event("assistant.audio.started", {"item_id": "a1"}, ts=12.5)) == []
    [assistant] = recorder.observe(Event("assistant.transcript.completed",
                                         {"item_id": "a1", "text": "Hi", "interrupted": True}, ts=14.0))
    assert (assistant.role, assistant.started_at, assistant.interrupted) == ("assistant", 12.5, True)
    [user] = recorder.observe(Event("user.transcript.completed", {"item_id": "u1", "text": "Hello"},
                                    ts=15.0))
    assert (user.text, user.started_at, user.ended_at) == ("Hello", 10.0, 12.0)
    assert user.conversation_id == "conv_1"
    assert recorder.current == []


def test_latency_marks_and_percentiles() -> None:
    tracker = LatencyTracker()
    for offset in range(10):
        tracker.turn_ended(100.0)
        tracker.response_created(100.1)
        tracker.first_audio(100.3)
        tracker.first_played(100.35 + offset / 1000)
        latency = tracker.response_done(101.0)
    assert latency.as_dict()["first_audio_ms"] == pytest.approx(300.0)
    summary = tracker.summary()
    assert summary["turns"] == 10
    assert summary["first_played_ms"]["p50"] == pytest.approx(354.5, abs=0.6)
