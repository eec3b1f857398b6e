"""Signals for the echo tests: what the assistant says, what the user says, and a small room between."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.support.signals import speak
from voiced.pcm import WIRE_RATE as RATE

Room = Callable[..., np.ndarray]


@pytest.fixture(scope="session")
def assistant_speech() -> np.ndarray:
    return speak("The quick brown fox jumps over the lazy dog. Once upon a time there was a long "
                 "story about echoes in a small room with hard walls and a loud speaker.", rate=RATE)


@pytest.fixture(scope="session")
def user_speech() -> np.ndarray:
    return speak("Stop, please stop talking now. I have a question.", rate=RATE, voice="en-us+f3")


def _through_room(played: np.ndarray, delay_s: float = 0.12, gain_db: float = -10.0,
                  noise_dbfs: float = -70.0, seed: int = 1) -> np.ndarray:
    """What a microphone hears of `played`: late, quieter, with a short reverb tail, and hiss."""
    rng = np.random.default_rng(seed)
    response = np.zeros(round(0.08 * RATE))
    response[0] = 1.0
    response += 0.03 * rng.standard_normal(len(response)) * np.exp(-np.arange(len(response)) / (0.015 * RATE))
    response *= 10 ** (gain_db / 20)
    echo = np.convolve(played.astype(np.float64), response)[: len(played)]
    echo = np.concatenate([np.zeros(round(delay_s * RATE)), echo])[: len(played)]
    echo += rng.standard_normal(len(echo)) * 32768 * 10 ** (noise_dbfs / 20)
    return echo


@pytest.fixture
def through_room() -> Room:
    return _through_room


def mix(*signals: np.ndarray) -> np.ndarray:
    """Sum float or int16 signals (padded to the longest) into int16 with clipping."""
    length = max(len(s) for s in signals)
    total = np.zeros(length)
    for s in signals:
        total[: len(s)] += s
    return np.clip(np.round(total), -32768, 32767).astype(np.int16)


@pytest.fixture
def mixer() -> Callable[..., np.ndarray]:
    return mix
