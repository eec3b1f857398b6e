"""The wake and standby cues: recognised when played, their echo taken out, the user's words kept."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.support.signals import active_spans, resample, silence
from tests.voiced.audio.test_echo_control import FRAME, control, run, sounding
from voiced.audio.cues import SLEEP_CUE, WAKE_CUE, CueEcho
from voiced.audio.echo import EchoMode
from voiced.audio.levels import level_dbfs
from voiced.pcm import WIRE_RATE as RATE

CUE = np.frombuffer(WAKE_CUE, dtype=np.int16)


def loud_time(pcm: np.ndarray) -> float:
    """Seconds of `pcm` louder than -45 dBFS, in 10 ms windows."""
    return sum(end - start for start, end in active_spans(pcm, RATE, min_gap_ms=0))


@pytest.mark.parametrize("rate", [RATE, 44100, 48000])
@pytest.mark.parametrize("cue", [WAKE_CUE, SLEEP_CUE])
def test_played_cue_audio_is_recognised_at_any_device_rate_and_speech_is_not(
        rate: int, cue: bytes, assistant_speech: np.ndarray) -> None:
    cues = CueEcho(rate)
    played = resample(np.frombuffer(cue, dtype=np.int16), RATE, rate)
    chunk = rate // 200  # the output callback's 5 ms
    for offset in (0, 37):
        buffers = [played[i:i + chunk].tobytes() for i in range(offset, len(played) - chunk, chunk)]
        assert all(cues.is_cue(b) for b in buffers if level_dbfs(b) > -60)
    speech = resample(assistant_speech, RATE, rate)
    buffers = [speech[i:i + chunk].tobytes() for i in range(0, len(speech) - chunk, chunk)]
    audible = [b for b in buffers if level_dbfs(b) > -40]
    assert sum(cues.is_cue(b) for b in audible) <= 0.01 * len(audible)


@pytest.mark.parametrize("mode", ["gate", "aec"])
@pytest.mark.parametrize("echo_db", [None, -6.0, 0.0])
def test_the_wake_cue_costs_none_of_the_words_that_woke_voiced(
        user_speech: np.ndarray, through_room: Callable, mixer: Callable, mode: EchoMode,
        echo_db: float | None) -> None:
    """Guards issue 10, item 1: the wake cue sounds while the user is still speaking (voice woke
    voiced), and the gate used to predict an echo as loud as the cue and send silence in place
    of the user's words, with no echo path at all. With the cue's tones taken out, >= 90 % of
    the speech's loud time passes, with no echo and with an echo as loud as the cue; and a cue
    heard alone is not sent."""
    played = np.concatenate([silence(0.3), CUE])
    user = np.concatenate([silence(0.1), user_speech[: round(1.5 * RATE)]])
    heard = user if echo_db is None else mixer(through_room(sounding(played), delay_s=0.03,
                                                            gain_db=echo_db), user)
    out = run(control(mode), played, heard)
    assert loud_time(out) >= 0.9 * loud_time(user[: len(out)])

    alone = run(control(mode), played, mixer(through_room(sounding(played), delay_s=0.03, gain_db=0.0)))
    assert loud_time(alone) <= 0.02, "the cue's echo alone was sent"


def test_the_cues_echo_is_taken_out_of_what_passes(user_speech: np.ndarray, through_room: Callable,
                                                  mixer: Callable) -> None:
    """What is sent over the cue is the user, not the user plus the cue."""
    played = np.concatenate([silence(0.3), CUE])
    user = np.concatenate([silence(0.1), user_speech[: round(1.5 * RATE)]]) // 4  # ~12 dB under the cue
    echo = through_room(sounding(played), delay_s=0.03, gain_db=0.0, noise_dbfs=-90)
    out = run(control("gate"), played, mixer(echo, user)).astype(np.float64)
    user_out = run(control("gate"), played, user).astype(np.float64)  # what the fit takes of the user too
    span = slice(round(0.3 * RATE), round(0.55 * RATE))
    passed = out[span] != 0
    assert passed.mean() > 0.3
    left = (out[span] - user_out[span])[passed]
    assert 10 * np.log10(np.mean(left**2) / np.mean(echo[span][passed] ** 2)) < -15
    assert len(out) % FRAME == 0
