"""The offline wake word: the bundled detector hears its phrase in espeak-ng speech and
nothing else; end to end, only the phrase wakes voiced and the words after it are sent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trio

from plugins.wake_word import WakeWord
from tests.plugins.helpers import bundled_alone
from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import PulseServer
from tests.support.signals import active_spans, silence, speak
from tests.voiced.plugin_host.fakes import hosting
from voiced.config import ListenConfig
from voiced.pcm import WIRE_RATE as RATE

FRAME = RATE // 50  # 20 ms, as the microphone delivers


def heard_at(detector: WakeWord, speech: np.ndarray) -> float | None:
    """Seconds into `speech` (after half a second of silence) at which the detector fires."""
    pcm = np.concatenate([silence(0.5), speech, silence(0.5)]).tobytes()
    step = FRAME * 2
    for offset in range(0, len(pcm), step):
        if detector.feed(pcm[offset:offset + step]):
            return offset / 2 / RATE - 0.5
    return None


def test_the_phrase_wakes_it_and_other_speech_does_not() -> None:
    phrase = speak("okay nabu, what time is it", rate=RATE)
    for quiet in (1.0, 0.2):  # a loud talker and one 14 dB further away
        at = heard_at(WakeWord("okay_nabu"), (phrase * quiet).astype(np.int16))
        assert at is not None and at < len(phrase) / RATE, f"not heard at level {quiet}"
    for other in ("hello there, what time is it", "good morning, what is the weather like"):
        assert heard_at(WakeWord("okay_nabu"), speak(other, rate=RATE)) is None, other


def test_the_threshold_setting_reaches_the_model() -> None:
    assert WakeWord("okay_nabu", 0.5).model.probability_cutoff == 0.5
    # A cut-off no probability reaches: the phrase no longer wakes it.
    assert heard_at(WakeWord("okay_nabu", 0.9999), speak("okay nabu", rate=RATE)) is None


def test_the_plugin_offers_a_detector_only_when_a_wake_word_is_set(tmp_path: Path) -> None:
    host, daemon = bundled_alone(tmp_path, "wake_word")

    async def main() -> None:
        async with hosting(host, daemon):
            assert await host.wake_detectors() == []
            daemon.settings.listen = ListenConfig(mode="wake", wake_word="hey_jarvis")
            [detector] = await host.wake_detectors()
            assert detector.plugin == "wake_word"
            detector.close()

    trio.run(main)


def test_an_unknown_wake_word_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="wake_word"):
        ListenConfig(wake_word="okay_computer")  # type: ignore[arg-type]


def test_only_the_wake_word_wakes_voiced_and_what_follows_it_reaches_the_server(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    simulator = SimulatorProcess(tmp_path)
    config = '[listen]\nmode = "wake"\ncues = false\nwake_word = "okay_nabu"\n'
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), config=config, wait_ready=False)
    processes += [simulator, daemon]
    daemon.wait_state("standby", timeout=20)

    pulse.play_into_mic(np.concatenate([speak("hello there, what time is it", rate=RATE),
                                        silence(1.5)])).wait(15)
    assert daemon.status()["state"] == "standby", "speech without the wake word woke voiced"
    assert simulator.events("in") == [], "something left the machine in standby"

    wake = speak("okay nabu", rate=RATE)
    question = speak("what time is it", rate=RATE)
    pulse.play_into_mic(np.concatenate([wake, silence(0.2), question, silence(1.2)])).wait(15)
    wait_for(lambda: simulator.sent("response.done"), 15, "an answer after the wake word")
    appended, _ = simulator.appended_audio()
    arrived = sum(end - start for start, end in active_spans(appended, RATE))
    asked = sum(end - start for start, end in active_spans(question, RATE))
    assert arrived >= asked, f"the words after the wake word were cut: {arrived:.2f} s of {asked:.2f} s"
    assert daemon.status()["listen"]["last_change_reason"] == "wake word"
