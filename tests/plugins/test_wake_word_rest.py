"""The wake word in a quiet room: the model rests, and still hears the phrase that ends the quiet."""

from __future__ import annotations

from typing import Any

import numpy as np

from plugins.wake_word import REST_AFTER_S, WakeWord
from tests.support.signals import silence, speak
from voiced.pcm import WIRE_RATE as RATE

FRAME = RATE // 5  # 200 ms, as standby delivers


def counting_windows(detector: WakeWord) -> list[int]:
    """Count the feature windows run through `detector`'s model."""
    count = [0]
    process = detector.model.process_streaming

    def counted(features: Any) -> bool | None:
        count[0] += 1
        return process(features)

    detector.model.process_streaming = counted  # type: ignore[method-assign]
    return count


def feed(detector: WakeWord, audio: np.ndarray) -> bool:
    pcm = audio.astype(np.int16).tobytes()
    return any([detector.feed(pcm[offset:offset + FRAME * 2]) for offset in range(0, len(pcm), FRAME * 2)])


def test_a_quiet_room_rests_the_model_and_the_phrase_after_it_is_heard() -> None:
    """Guards issue 10 item 5: standby with the wake word costs next to nothing in a quiet
    room (10 ms windows are not run through the model after `REST_AFTER_S` of quiet), and
    the phrase that follows a long quiet still wakes voiced."""
    detector = WakeWord("okay_nabu")
    windows = counting_windows(detector)
    hiss = np.random.default_rng(5).normal(0, 10, RATE * 10)  # about -70 dBFS, ten seconds
    assert not feed(detector, hiss)
    assert windows[0] <= (REST_AFTER_S + 0.3) * 100, "the model ran through the quiet room"
    assert feed(detector, np.concatenate([speak("okay nabu, what time is it", rate=RATE), silence(0.5)]))


def test_a_pause_within_speech_does_not_rest_the_model() -> None:
    detector = WakeWord("okay_nabu")
    windows = counting_windows(detector)
    speech = np.concatenate([speak("hello there", rate=RATE), silence(1.5), speak("hello", rate=RATE)])
    feed(detector, speech)
    assert windows[0] >= len(speech) / RATE * 100 - 10, "windows within the speech were skipped"
