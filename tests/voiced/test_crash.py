"""Recordings hold what went through the devices, and a `kill -9` loses nothing that was
finished: history keeps every completed turn, the WAV files open, and the daemon starts
again without anyone cleaning up."""

from __future__ import annotations

import json
import signal
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import PulseServer
from tests.support.signals import active_spans, envelope_similarity, silence, speak
from voiced.pcm import WIRE_RATE as RATE


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


def recordings(folder: Path) -> list[Path]:
    return sorted((folder / "home" / ".local" / "share" / "voiced" / "recordings").glob("conv_*"))



@pytest.fixture(scope="module")
def utterance() -> np.ndarray:
    return speak("Please remember that the meeting moved to Thursday.", rate=RATE)


def converse(pulse: PulseServer, simulator: SimulatorProcess, daemon: DaemonProcess,
             utterance: np.ndarray, answers: int) -> None:
    pulse.play_into_mic(np.concatenate([utterance, silence(1.0)])).wait(15)
    wait_for(lambda: len(simulator.sent("response.done")) >= answers, 15, f"answer {answers}")


def test_recordings_hold_the_microphone_and_the_assistant(
        tmp_path: Path, pulse: PulseServer, simulator: SimulatorProcess, utterance: np.ndarray) -> None:
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), "--save-recordings",
                           config="[listen]\ncues = false\n")
    try:
        converse(pulse, simulator, daemon, utterance, 1)
        daemon.wait_state("listening", timeout=15)
        time.sleep(0.5)
    finally:
        assert daemon.terminate() == 0
    [folder] = recordings(tmp_path)
    mic, assistant, mixed = (read_wav(folder / name) for name in ("mic.wav", "assistant.wav", "mixed.wav"))
    spoken = sum(end - start for start, end in active_spans(utterance, RATE))
    for track, name in ((mic, "mic"), (assistant, "assistant")):
        heard = sum(end - start for start, end in active_spans(track, RATE))
        assert heard == pytest.approx(spoken, abs=0.3), f"{name}.wav holds {heard:.2f} s of sound"
        correlation, _ = envelope_similarity(utterance, track, RATE)
        assert correlation > 0.7, f"{name}.wav does not follow the speech (r={correlation:.2f})"
    # the answer (the utterance echoed) comes after the question on the shared timeline
    mic_start = active_spans(mic, RATE)[0][0]
    answer_start = active_spans(assistant, RATE)[0][0]
    assert answer_start > mic_start + 1.0
    assert len(active_spans(mixed, RATE)) >= 2


def test_kill_9_mid_conversation_loses_nothing_finished(
        tmp_path: Path, pulse: PulseServer, simulator: SimulatorProcess, utterance: np.ndarray) -> None:
    env = daemon_env(pulse.env, simulator)
    daemon = DaemonProcess(tmp_path, env, "--save-recordings", config="[listen]\ncues = false\n")
    converse(pulse, simulator, daemon, utterance, 1)
    daemon.wait_state("listening", timeout=15)
    daemon.rpc("say", {"text": "And what about Friday?"})
    wait_for(lambda: len(simulator.sent("response.done")) >= 2, 15, "the second answer")
    daemon.wait_state("listening", timeout=15)
    pulse.play_into_mic(utterance).wait(15)  # speaking when the daemon dies
    time.sleep(1.5)
    daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait(5)
    assert daemon.socket.exists(), "a killed daemon leaves its socket behind"

    [folder] = recordings(tmp_path)
    for name in ("mic.wav", "assistant.wav", "mixed.wav"):
        pcm = read_wav(folder / name)  # opens: the header was kept in step with the data
        assert len(pcm) > RATE, f"{name} lost its audio"
    assert active_spans(read_wav(folder / "assistant.wav"), RATE)

    again = DaemonProcess(tmp_path, env, "--save-recordings")  # no cleanup in between
    try:
        turns = json.loads(again.voicectl("history", "--json").stdout)["turns"]
        texts = [t["text"] for t in turns]
        assert "And what about Friday?" in texts
        assert sum(t["role"] == "assistant" for t in turns) >= 2, "an answered turn is missing"
        assert any(t["role"] == "user" and "(simulated transcript" in t["text"] for t in turns)
    finally:
        assert again.terminate() == 0
