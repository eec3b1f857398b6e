"""WebRTC AEC3 (through livekit) on synthetic rooms: the echo goes, the user stays."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.support.signals import envelope_similarity, silence
from voiced.audio.aec import EchoCanceller
from voiced.audio.levels import level_dbfs
from voiced.pcm import WIRE_RATE as RATE

FRAME = RATE // 50


def cancel(played: np.ndarray, heard: np.ndarray) -> np.ndarray:
    """Run the canceller over 20 ms frames as the daemon does: reference first, then the mic.

    Here the reference goes in at the moment it sounds, so the device delay is 0 and only
    the room's delay is left for AEC3 to find.
    """
    canceller = EchoCanceller(RATE, 0)
    played = np.concatenate([played, np.zeros(max(0, len(heard) - len(played)), dtype=np.int16)])
    out = []
    for start in range(0, len(heard) - FRAME + 1, FRAME):
        canceller.played(played[start:start + FRAME].astype(np.int16).tobytes())
        out.append(np.frombuffer(canceller.cancel(heard[start:start + FRAME].tobytes()), dtype=np.int16))
    return np.concatenate(out)


def attenuation_db(before: np.ndarray, after: np.ndarray) -> float:
    return level_dbfs(before.astype(np.int16)) - level_dbfs(after.astype(np.int16))


@pytest.mark.parametrize("delay_s", [0.03, 0.12, 0.3])
def test_the_echo_is_attenuated_by_more_than_20_db(assistant_speech: np.ndarray, through_room: Callable,
                                                    mixer: Callable, delay_s: float) -> None:
    heard = mixer(through_room(assistant_speech, delay_s=delay_s, gain_db=-6))
    out = cancel(assistant_speech, heard)
    converged = slice(RATE, len(out))
    assert attenuation_db(heard[converged], out[converged]) >= 20
    # Even before convergence no stretch of echo is loud enough for a VAD (about -40 dBFS).
    frames = out[: len(out) // FRAME * FRAME].reshape(-1, FRAME)
    assert max(level_dbfs(f) for f in frames) < -45


def test_the_user_is_kept_over_and_after_the_echo(assistant_speech: np.ndarray, user_speech: np.ndarray,
                                                   through_room: Callable, mixer: Callable) -> None:
    echo = through_room(assistant_speech, gain_db=-6)
    over, after = 3 * RATE, len(assistant_speech) + RATE // 2
    gap = silence((after - over - len(user_speech)) / RATE)
    user = np.concatenate([silence(over / RATE), user_speech, gap, user_speech])
    out = cancel(assistant_speech, mixer(echo, user))

    double_talk = slice(over, over + len(user_speech))
    assert attenuation_db(user[double_talk], out[double_talk]) < 6, "double talk lost the user"
    correlation, _ = envelope_similarity(user[double_talk], out[double_talk], RATE, max_lag_s=0.05)
    assert correlation > 0.8
    alone = slice(after, after + len(user_speech))
    assert abs(attenuation_db(user[alone], out[alone])) < 1.5, "speech without playback was changed"


def test_uneven_chunks_come_back_as_whole_blocks() -> None:
    canceller = EchoCanceller(RATE, 0)
    canceller.played(bytes(2 * 250))
    assert canceller.cancel(bytes(2 * 100)) == b""
    assert len(canceller.cancel(bytes(2 * 400))) == 2 * 480
    assert len(canceller.flush()) == 2 * 20
    assert canceller.flush() == b""
