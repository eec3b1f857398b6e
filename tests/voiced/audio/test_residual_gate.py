"""Behind the canceller: the user passes from the first syllable, the echo never does."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.support.signals import active_spans, silence, tone
from tests.voiced.audio.test_echo_control import control, loud_frames, run, sounding
from voiced.audio.gate import ERLE_CONVERGED_DB, ERLE_MAX_DB, ResidualGate
from voiced.pcm import WIRE_RATE as RATE


def speech_level(pcm: np.ndarray) -> float:
    windows = pcm[: len(pcm) // 240 * 240].reshape(-1, 240).astype(np.float64) / 32768
    rms = np.sqrt(np.mean(windows**2, axis=1))
    loud = rms[rms > 10 ** (-45 / 20)]
    return float(20 * np.log10(np.sqrt(np.mean(loud**2))))


def test_the_estimate_learns_the_canceller_before_trusting_it() -> None:
    gate = ResidualGate()
    for _ in range(25):  # half a second: not yet
        gate.learn(-20.0, -60.0, 0.02, passed=False)
    assert not gate.converged and gate.erle_db < ERLE_CONVERGED_DB
    for _ in range(100):  # two seconds of echo the canceller takes 40 dB off
        gate.learn(-20.0, -60.0, 0.02, passed=False)
    assert gate.converged
    assert not gate.admit(-20.0, -55.0), "a canceller a little off its best is still echo"
    assert gate.admit(-18.0, -22.0), "a frame it removed almost nothing of holds the user"
    assert gate.erle_db <= ERLE_MAX_DB


@pytest.mark.parametrize("echo_over_voice_db", [0.0, 6.0])
def test_the_user_passes_over_an_echo_as_loud_or_louder_from_the_first_syllables(
        assistant_speech: np.ndarray, user_speech: np.ndarray, through_room: Callable, mixer: Callable,
        echo_over_voice_db: float) -> None:
    """Guards issue 10, item 3: behind AEC3 the old gate passed only what was louder than the raw
    echo could be, so a voice as loud as the echo reached the server 1.46 s late. Now the frame
    the canceller removes little of is the user: it passes within 200 ms of the voice's onset,
    and a quarter of the first 300 ms' loud frames do (enough for a server VAD)."""
    played = assistant_speech[: 6 * RATE] * 0.4  # a room's levels: the microphone never clips
    gain = speech_level(user_speech * 0.4) + echo_over_voice_db - speech_level(played)
    echo = through_room(sounding(played), delay_s=0.05, gain_db=gain)
    at = 3 * RATE
    user = np.concatenate([silence(3.0), user_speech * 0.4])[: len(echo)]
    out = run(control("aec"), played, mixer(echo, user))
    assert not loud_frames(out[:at], -40), "echo got through"
    onset = round(active_spans(user, RATE)[0][0] * RATE)
    first = slice(onset, onset + round(0.3 * RATE))
    assert len(loud_frames(out[first], -40)) >= len(loud_frames(user[first], -40)) / 4
    assert loud_frames(out[onset:onset + round(0.2 * RATE)], -40), "not within 200 ms"


def test_a_new_answer_after_a_pause_does_not_leak_while_the_canceller_catches_up(
        through_room: Callable, mixer: Callable) -> None:
    """Guards issue 10, item 3: a tone answer taught AEC3 the path at one frequency only; the next
    answer's onset, broadband, came through as loud as the raw echo and the canceller's
    record said "user" (the assistant interrupted itself). Onsets are judged by energy."""
    answer = tone(2.5, 440.0, RATE, 0.25)
    played = np.concatenate([silence(0.5), answer, silence(2.5), answer, silence(2.5), answer, silence(1.0)])
    for gain_db in (-3.0, 3.0):
        heard = mixer(through_room(sounding(played), delay_s=0.05, gain_db=gain_db))
        out = run(control("aec"), played, heard)
        assert not loud_frames(out, -40), f"echo got through at {gain_db:+} dB"
