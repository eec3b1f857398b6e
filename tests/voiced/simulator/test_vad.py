"""The energy VAD on its own: the threshold mapping and the timing rules."""

from __future__ import annotations

import numpy as np

from voiced.pcm import WIRE_RATE as RATE
from voiced.simulator.input_buffer import InputBuffer
from voiced.simulator.vad import EnergyVad, SpeechStarted, SpeechStopped, threshold_to_dbfs


def _tone(seconds: float, amplitude: float) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * 300 * t) * 32767).astype("<i2").tobytes()


def _silence(seconds: float) -> bytes:
    return bytes(int(seconds * RATE) * 2)


def test_threshold_maps_linearly_to_dbfs():
    assert threshold_to_dbfs(0.0) == -70.0
    assert threshold_to_dbfs(0.5) == -40.0
    assert threshold_to_dbfs(1.0) == -10.0


def test_speech_start_and_stop_times_in_odd_chunk_sizes():
    vad = EnergyVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500)
    audio = _silence(1.0) + _tone(0.5, 0.1) + _silence(1.0)
    events = []
    for offset in range(0, len(audio), 1234):  # not a multiple of a frame
        events += vad.feed(audio[offset : offset + 1234])
    assert events == [SpeechStarted(700), SpeechStopped(2000)]


def test_quiet_sound_below_threshold_is_not_speech():
    # 0.005 peak is about -49 dBFS RMS: heard at threshold 0.2 (-58), not at 0.5 (-40).
    audio = _tone(1.0, 0.005) + _silence(1.0)
    assert EnergyVad(threshold=0.5).feed(audio) == []
    assert EnergyVad(threshold=0.2).feed(audio)[0] == SpeechStarted(0)


def test_a_click_does_not_start_speech():
    audio = _silence(0.2) + _tone(0.01, 0.5) + _silence(0.5)
    assert EnergyVad().feed(audio) == []


def test_a_long_utterance_is_committed_whole():
    buffer = InputBuffer({"type": "server_vad"})
    audio = _silence(0.5) + _tone(3.0, 0.1) + _silence(0.6)
    stopped = [event for event in buffer.append(audio) if isinstance(event, SpeechStopped)]
    assert stopped == [SpeechStopped(4000)]
    assert len(buffer.take(4000)) == (4000 - 200) * 48  # from the 300 ms prefix on
