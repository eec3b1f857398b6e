"""Double talk told by fitting the microphone with what was played (`EchoFit`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.support.signals import active_spans, silence
from voiced.audio.echo_fit import AHEAD_S, EchoFit
from voiced.audio.levels import level_dbfs
from voiced.pcm import WIRE_RATE as RATE

FRAME = RATE // 25  # 40 ms, as the daemon's microphone delivers while it listens
AHEAD = round(AHEAD_S * RATE)


def delayed(signal: np.ndarray, delay_s: float, gain_db: float) -> np.ndarray:
    """A loopback room: `signal` later and quieter, nothing else (as module-loopback plays it)."""
    shift = round(delay_s * RATE)
    out = np.concatenate([np.zeros(max(0, shift)), signal.astype(np.float64)])[: len(signal)]
    if shift < 0:
        out = np.concatenate([signal[-shift:].astype(np.float64), np.zeros(-shift)])
    return out * 10 ** (gain_db / 20)


def verdicts(fit: EchoFit, played: np.ndarray, heard: np.ndarray) -> list[bool | None]:
    """Frame by frame, as EchoControl drives it: the reference in step, what follows, the frame."""
    played = np.concatenate([played, np.zeros(AHEAD + FRAME)]).astype(np.int16)
    heard = np.clip(np.round(heard), -32768, 32767).astype(np.int16)
    out: list[bool | None] = []
    for start in range(0, len(heard) - FRAME + 1, FRAME):
        ahead = played[start + FRAME:start + FRAME + AHEAD]
        fit.reference(played[start:start + FRAME].tobytes(), ahead.tobytes())
        result = fit.fit(heard[start:start + FRAME].tobytes())
        if result is None:
            out.append(None)
            continue
        user = fit.user(result)
        fit.learn(result, user)
        out.append(user)
    return out


def frames_over(signal: np.ndarray, dbfs: float) -> list[int]:
    frames = signal[: len(signal) // FRAME * FRAME].reshape(-1, FRAME).astype(np.int16)
    return [k for k, frame in enumerate(frames) if level_dbfs(frame.tobytes()) > dbfs]


@pytest.fixture
def answer(assistant_speech: np.ndarray) -> np.ndarray:
    return (assistant_speech[: 6 * RATE] * 0.5).astype(np.int16)


def test_the_echo_alone_is_never_a_voice_and_the_fit_learns_that_it_explains_it(answer: np.ndarray) -> None:
    fit = EchoFit(RATE)
    said = verdicts(fit, answer, delayed(answer, 0.03, -3))
    assert not any(said), f"echo taken for the user in frames {[k for k, v in enumerate(said) if v]}"
    assert fit.explains_echo and fit.echo_db < -25


@pytest.mark.parametrize("echo_over_voice_db", [0.0, 6.0])
def test_the_user_over_the_echo_is_found_from_the_first_syllable(
        answer: np.ndarray, user_speech: np.ndarray, echo_over_voice_db: float) -> None:
    """Guards issue 10, items 2-3: with the echo as loud as the voice, or 6 dB louder, the user's
    voice must be found within 200 ms of its onset (its "S" is quiet), and in most of its loud frames."""
    echo = delayed(answer, 0.03, -3)
    voice = user_speech[: 2 * RATE].astype(np.float64)
    voice *= 10 ** ((level_dbfs(echo.astype(np.int16).tobytes()) - echo_over_voice_db
                     - level_dbfs(voice.astype(np.int16).tobytes())) / 20)
    at = 3 * RATE
    user = np.concatenate([np.zeros(at), voice, np.zeros(len(echo))])[: len(echo)]
    said = verdicts(EchoFit(RATE), answer, echo + user)
    assert not any(said[: at // FRAME]), "echo alone taken for the user"
    onset = round(active_spans(user.astype(np.int16), RATE)[0][0] * RATE)
    first = onset // FRAME
    assert any(said[first:first + 5]), f"not within 200 ms of the voice's onset: {said[first:first + 8]}"
    loud = [k for k in frames_over(user, -35) if k < len(said)]
    assert sum(bool(said[k]) for k in loud) >= 0.8 * len(loud)


def test_a_delay_that_jumps_or_comes_early_costs_nothing(answer: np.ndarray) -> None:
    """No adaptation: the echo's delay is found anew in every 10 ms, also when the echo comes
    up to `AHEAD_S` before the reference handed in step with the microphone."""
    half = len(answer) // 2
    echo = np.concatenate([delayed(answer, 0.03, -3)[:half], delayed(answer, 0.12, -3)[half:]])
    early = delayed(answer, -0.015, -3)
    for heard in (echo, early):
        said = verdicts(EchoFit(RATE), answer, heard)
        assert not any(said), f"echo taken for the user in frames {[k for k, v in enumerate(said) if v]}"


def test_a_buffer_the_sound_server_dropped_is_not_a_voice(answer: np.ndarray) -> None:
    """Guards issue 10 (echo): 10 ms missing from the echo (the loopback dropped a buffer) left
    one part of a frame unexplained; a voice adds to the echo, it never takes it away."""
    echo = delayed(answer, 0.03, -3)
    for start in range(RATE, len(echo) - RATE, RATE // 2):
        echo[start + 37:start + 37 + RATE // 100] = 0
    said = verdicts(EchoFit(RATE), answer, echo)
    assert not any(said), f"a dropout taken for the user in frames {[k for k, v in enumerate(said) if v]}"


def test_a_reverberant_room_is_learned_not_taken_for_a_voice(
        answer: np.ndarray, user_speech: np.ndarray, through_room: Callable) -> None:
    """The fit takes out the echo's direct path; a room's reverberation of what was played
    before is learned (`EchoFit.tail_db`) so that it does not pass for the user."""
    echo = through_room(np.concatenate([silence(0.0), answer]), delay_s=0.05, gain_db=-6)
    voice = user_speech[: 2 * RATE].astype(np.float64) * 0.25
    at = 4 * RATE
    user = np.concatenate([np.zeros(at), voice, np.zeros(len(echo))])[: len(echo)]
    fit = EchoFit(RATE)
    said = verdicts(fit, answer, echo + user)
    assert fit.tail_db > -40, "the reverberation was learned"
    assert not any(said[: at // FRAME]), f"reverberation taken for the user: {said[: at // FRAME]}"
    assert sum(bool(v) for v in said[at // FRAME:]) >= 10, "the user over a reverberant echo was not found"


def test_nothing_played_explains_nothing() -> None:
    fit = EchoFit(RATE)
    fit.reference(bytes(2 * FRAME))
    assert fit.fit(np.full(FRAME, 3000, dtype=np.int16).tobytes()) is None


def test_capture_buffers_lost_in_the_middle_of_the_echo_are_not_a_voice(answer: np.ndarray) -> None:
    """Guards issue 10 (echo): on a loaded machine the sound server filled lost capture buffers
    with digital silence, 5-20 ms inside the echo; the fit could not explain the edges of the
    holes and took two parts of a frame for a voice (a self-interruption in the room bench)."""
    echo = delayed(answer, 0.03, -3)
    for start in range(RATE, len(echo) - RATE, 8 * FRAME):
        echo[start + 144:start + 864] = 0  # 30 ms: from the end of its first part to the start of its last
    said = verdicts(EchoFit(RATE), answer, echo)
    assert not any(said), f"a hole taken for the user in frames {[k for k, v in enumerate(said) if v]}"
