"""The standby ear: voice wakes it, quiet noise does not, and the pre-roll keeps the first word."""

from __future__ import annotations

import numpy as np

from tests.support.signals import silence, speak
from voiced.daemon.standby_ear import StandbyEar

FRAME = 480  # 20 ms at 24 kHz


def frames(pcm: np.ndarray) -> list[bytes]:
    return [pcm[i:i + FRAME].tobytes() for i in range(0, len(pcm) - FRAME + 1, FRAME)]


def first_wake(listener: StandbyEar, pcm: np.ndarray) -> int | None:
    for index, frame in enumerate(frames(pcm)):
        if listener.feed(frame):
            return index
    return None


def test_speech_wakes_and_the_pre_roll_holds_its_start() -> None:
    speech = speak("Hey there, are you awake?", rate=24000)
    listener = StandbyEar(threshold=0.5)
    index = first_wake(listener, np.concatenate([silence(2.0), speech]))
    assert index is not None
    onset = 2.0 * 1000 / 20
    assert onset < index < onset + 30, "voice should wake within about half a second of its start"
    held = np.frombuffer(b"".join(listener.pre_roll()), dtype=np.int16)
    assert len(held) == 50 * FRAME  # one second
    first_loud = np.argmax(np.abs(held) > 1000)
    assert first_loud > 0, "the pre-roll starts before the first word"


def test_noise_below_the_threshold_does_not_wake() -> None:
    rng = np.random.default_rng(7)
    noise = (rng.standard_normal(24000 * 10) * 300).astype(np.int16)  # -41 dBFS: under the -40 floor
    assert first_wake(StandbyEar(threshold=0.5), noise) is None


def test_quiet_speech_below_the_threshold_does_not_wake() -> None:
    speech = (speak("Hey there, are you awake?", rate=24000) * 0.003).astype(np.int16)
    assert first_wake(StandbyEar(threshold=0.5), speech) is None


def test_a_wake_word_detector_wakes_and_a_broken_one_is_dropped() -> None:
    class Broken:
        def feed(self, pcm: bytes) -> bool:
            raise RuntimeError("boom")

    class AfterTen:
        count = 0

        def feed(self, pcm: bytes) -> bool:
            self.count += 1
            return self.count == 10

    listener = StandbyEar(0.5, [Broken(), AfterTen()], use_vad=False)
    assert first_wake(listener, silence(1.0)) == 9
    assert len(listener.detectors) == 1


def test_speech_left_over_from_the_last_wake_does_not_wake_the_next_standby() -> None:
    """Guards a flaky failure of test_standby_sends_nothing...: standby hands the ear frames
    of 200 ms and batches of them; the ear woke on the tenth 20 ms of voice and kept the rest
    of that frame's audio, unheard. The next standby heard that stale speech first and woke at
    once on a quiet room (its pre-roll: digital silence), sending a session and audio."""
    speech = speak("Hey there, are you awake? I have a question for you.", rate=24000)
    listener = StandbyEar(threshold=0.5)
    batch = np.concatenate([silence(0.2), speech]).astype(np.int16).tobytes()  # one long frame
    assert listener.feed(batch) == "voice"
    listener.pre_roll()  # woken: the ring starts again empty
    quiet = (np.random.default_rng(3).standard_normal(24000) * 100).astype(np.int16)  # -50 dBFS
    assert first_wake(listener, np.concatenate([silence(0.5), quiet])) is None
