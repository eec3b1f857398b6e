"""The energy gate's decisions on pure signals: one timeline, 20 ms frames, no devices."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.support.signals import silence, tone
from voiced.audio.gate import LEAD_S, ONSET_GAP_S, ONSET_HOLD_S, STOP_HOLD_S, TAIL_S, EchoGate
from voiced.audio.levels import level_dbfs
from voiced.pcm import WIRE_RATE as RATE

FRAME = RATE // 50


def frames(pcm: np.ndarray) -> list[np.ndarray]:
    return [pcm[i:i + FRAME] for i in range(0, len(pcm) - FRAME + 1, FRAME)]


def run_gate(gate: EchoGate, played: np.ndarray, heard: np.ndarray) -> list[bool]:
    """Play `played` from t=0 and feed `heard` frame by frame on the same timeline; the decisions.

    As in the daemon, the reference is known ahead of the mic frame it echoes into (the
    output latency), here one frame ahead.
    """
    decisions = []
    played_frames, heard_frames = frames(played), frames(heard)
    for index, frame in enumerate(heard_frames):
        ahead = index + 1
        if ahead < len(played_frames):
            gate.played(ahead * 0.02, (ahead + 1) * 0.02, level_dbfs(played_frames[ahead]))
        if index == 0 and played_frames:
            gate.played(0.0, 0.02, level_dbfs(played_frames[0]))
        decisions.append(gate.admit(index * 0.02, (index + 1) * 0.02, level_dbfs(frame)))
    return decisions


def test_playback_alone_is_gated(assistant_speech: np.ndarray, through_room: Callable) -> None:
    heard = np.round(through_room(assistant_speech, gain_db=-6)).astype(np.int16)
    decisions = run_gate(EchoGate(), assistant_speech, heard)
    leaked = [level_dbfs(f) for f, ok in zip(frames(heard), decisions, strict=True) if ok]
    assert not [db for db in leaked if db > -55], f"echo frames passed: {leaked}"
    assert decisions.count(False) > 0.8 * len(decisions)


def test_a_loud_user_over_playback_passes(assistant_speech: np.ndarray, user_speech: np.ndarray,
                                         through_room: Callable, mixer: Callable) -> None:
    echo = through_room(assistant_speech, gain_db=-20)
    start = 3 * RATE  # the gain estimate has settled by then
    user = np.concatenate([np.zeros(start), user_speech.astype(np.float64)])
    decisions = run_gate(EchoGate(), assistant_speech, mixer(echo, user))

    # The first second is what matters: by then a real barge-in has stopped the playback.
    first_second = slice(start // FRAME, (start + RATE) // FRAME)
    user_loud = [level_dbfs(f) > -35 for f in frames(user.astype(np.int16))][first_second]
    passed = decisions[first_second]
    during_user = [ok for ok, loud in zip(passed, user_loud, strict=True) if loud]
    assert sum(during_user) >= 0.5 * len(during_user), f"the user's speech was gated: {passed}"
    assert "11111" in "".join("1" if ok else "0" for ok in passed), "no 100 ms of speech passed in one piece"

    before_user = decisions[: start // FRAME]
    echo_frames = [level_dbfs(f) > -55 for f in frames(np.round(echo[:start]).astype(np.int16))]
    assert not any(ok and loud for ok, loud in zip(before_user, echo_frames, strict=False))


def test_without_playback_everything_passes(user_speech: np.ndarray) -> None:
    gate = EchoGate()
    decisions = run_gate(gate, silence(len(user_speech) / RATE), user_speech)
    assert all(decisions)
    assert not gate.echo_possible(0.0, 10.0)


def test_the_echo_tail_is_gated_and_speech_after_it_passes(user_speech: np.ndarray,
                                                           through_room: Callable, mixer: Callable) -> None:
    playback = np.concatenate([tone(2.0, amplitude=0.3), silence(3.0)])
    echo = through_room(playback, delay_s=0.05, gain_db=-6)
    ends = 2.0
    user = np.concatenate([np.zeros(round((ends + TAIL_S + LEAD_S + 0.1) * RATE)), user_speech])
    heard = mixer(echo, user)
    gate = EchoGate()
    decisions = run_gate(gate, playback, heard)

    tail = decisions[round(ends / 0.02): round((ends + 0.1) / 0.02)]
    assert not any(tail), "the echo's tail right after playback passed"
    assert gate.echo_possible(ends, ends + 0.02)
    later = decisions[round((ends + TAIL_S + LEAD_S + 0.1) / 0.02):]
    assert all(later), "speech after the tail was gated"
    assert not gate.echo_possible(ends + TAIL_S + 0.1, ends + TAIL_S + 0.12)


def feed(gate: EchoGate, first: int, count: int, played_db: float, heard_db: Callable[[int], float]
         ) -> list[bool]:
    decisions = []
    for index in range(first, first + count):
        t = index * 0.02
        gate.played(t, t + 0.02, played_db)
        decisions.append(gate.admit(t, t + 0.02, heard_db(index)))
    return decisions


def test_the_gain_estimate_rises_faster_than_it_falls() -> None:
    gate = EchoGate(prior_gain_db=-12)
    assert not any(feed(gate, 0, 10, -20.0, lambda i: -26.0))  # 0.2 s of echo 6 dB under playback
    assert gate.gain_db == pytest.approx(-6.0)
    feed(gate, 10, 10, -20.0, lambda i: -60.0)  # 0.2 s of a pause
    assert gate.gain_db == pytest.approx(-8.0)
    assert not any(feed(gate, 20, 4, -20.0, lambda i: -26.0))
    assert gate.gain_db == pytest.approx(-6.0)


def test_an_echo_much_louder_than_the_estimate_is_learned(assistant_speech: np.ndarray,
                                                           through_room: Callable) -> None:
    played = np.concatenate([assistant_speech, assistant_speech])
    heard = np.round(through_room(played, gain_db=-6)).astype(np.int16)
    decisions = run_gate(EchoGate(prior_gain_db=-30), played, heard)  # the volume went up by 24 dB
    leaked = [ok and level_dbfs(f) > -50 for f, ok in zip(frames(heard), decisions, strict=True)]
    assert any(leaked[:50]), "a louder echo than estimated passes at first"
    assert not any(leaked[150:]), "and is gated within 3 s"


def test_only_audio_after_a_silence_is_an_onset() -> None:
    """Guards issue 10 (echo): every louder word of an answer counted as an onset, and for the
    150 ms after each the canceller's record was not trusted (a barge-in waited for energy
    alone); now only audio that follows half a second of silence is new to the canceller."""
    gate = EchoGate()
    gate.played(10.0, 10.5, -30.0)
    gate.played(10.6, 11.0, -10.0)  # 20 dB louder after a 100 ms pause: a word, not an onset
    assert gate.onset(10.0, 10.04)
    assert not gate.onset(10.7 + TAIL_S, 10.74 + TAIL_S)
    later = 11.0 + ONSET_GAP_S
    gate.played(later, later + 1.0, -30.0)
    assert gate.onset(later + ONSET_HOLD_S, later + ONSET_HOLD_S + 0.04)
    assert not gate.onset(later + ONSET_HOLD_S + TAIL_S + 0.05, later + ONSET_HOLD_S + TAIL_S + 0.09)


def test_a_stop_is_known_once_silence_was_played_after_it() -> None:
    """Guards issue 10 (echo): where played audio stops mid-frame (a tone's end, a cut), the frame
    its echo stops in holds a click's worth of every frequency: judged by energy, not by the
    canceller's record or the spectrum. Only once silence was played after it, though: a
    stream that merely has not handed over its next chunk yet has not stopped."""
    gate = EchoGate()
    gate.played(10.0, 12.0, -20.0)
    assert not gate.stopping(11.96, 12.0), "nothing is known after 12.0 yet"
    gate.played(12.0, 12.2, -90.0)  # silence
    assert gate.stopping(11.96, 12.0)
    assert gate.stopping(12.0 + STOP_HOLD_S - 0.02, 12.0 + STOP_HOLD_S + 0.02)
    assert not gate.stopping(12.0 + STOP_HOLD_S + 0.01, 12.0 + STOP_HOLD_S + 0.05)
    assert not gate.stopping(11.0, 11.04), "it was still playing then"
