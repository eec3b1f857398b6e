"""Waking with the cues on (the default): the wake cue never costs the words that woke voiced.

Voice wakes voiced while the user is still speaking, so the wake cue sounds over their
words. The room either has no echo path at all, or plays the speaker back into the
microphone (PulseAudio's module-loopback) at the level of the user's voice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import PulseServer
from tests.support.signals import active_spans, envelope_similarity, silence, speak
from voiced.pcm import WIRE_RATE as RATE


def loud_time(pcm: np.ndarray) -> float:
    """Seconds louder than -45 dBFS, in 10 ms windows."""
    return sum(end - start for start, end in active_spans(pcm, RATE, min_gap_ms=0))


@pytest.mark.parametrize("room", ["no echo path", "echo at the voice's level"])
def test_the_wake_cue_costs_none_of_the_words_that_woke_voiced(
        tmp_path: Path, pulse: PulseServer, processes: list, room: str) -> None:
    """Guards issue 10, item 1: with cues on, the echo gate took the wake cue for an echo as loud
    as itself and sent silence for the user's words (240 ms of a 1.34 s utterance arrived).
    Now the pre-roll and the held audio carry >= 90 % of the utterance's loud time."""
    simulator = SimulatorProcess(tmp_path)
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator),
                           config='[listen]\nmode = "wake"\nidle_timeout_s = 30\n', wait_ready=False)
    processes += [simulator, daemon]
    daemon.wait_state("standby", timeout=20)
    speech = speak("Computer, what is on my calendar today?", rate=RATE)
    with pulse.echo_path("100%") if room != "no echo path" else _nothing():
        pulse.play_into_mic(np.concatenate([speech, silence(1.0)])).wait(15)
        wait_for(lambda: simulator.received("input_audio_buffer.append"), 15, "audio after waking")
        wait_for(lambda: simulator.sent("input_audio_buffer.speech_stopped"), 15, "the end of the turn")
    assert daemon.status()["listen"]["last_change_reason"] == "voice"
    appended, _ = simulator.appended_audio()
    assert loud_time(appended) >= 0.9 * loud_time(speech), (
        f"the cue cost words: {loud_time(appended):.2f} s of {loud_time(speech):.2f} s arrived; "
        f"echo {daemon.status()['devices']['echo']}")
    correlation, _ = envelope_similarity(speech, appended, RATE)
    assert correlation > 0.8


@contextmanager
def _nothing() -> Iterator[None]:
    yield
