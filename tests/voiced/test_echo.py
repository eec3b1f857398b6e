"""Echo control end to end: a real daemon, the simulator, and a PulseAudio "room".

PulseAudio's module-loopback plays whatever the daemon plays (the ``voiced_speaker``
monitor) back into its microphone (the ``voiced_mic`` sink) 40 ms later and 18 dB
quieter (50 % volume is cubic): the assistant's voice reaches the microphone as it
would from a loudspeaker, well above the simulator's VAD threshold (-40 dBFS).
First the test proves that without echo control the assistant interrupts itself;
then that with ``aec`` and with ``gate`` it does not over ten spoken answers, while
the user talking over a long answer still interrupts it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import PulseServer
from tests.support.signals import save_wav, silence, speak
from voiced.audio.duplex import OUTPUT_IDLE_S
from voiced.pcm import WIRE_RATE as RATE

ANSWERS = 10
ECHO_VOLUME = "50%"


@pytest.fixture
def room(pulse: PulseServer) -> Iterator[None]:
    """The speaker heard by the microphone, attenuated; unloaded afterwards."""
    with pulse.echo_path(ECHO_VOLUME):
        yield


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Spoken answers as WAV files: a short one for the ten turns, a long one to talk over."""
    folder = tmp_path_factory.mktemp("answers")
    short = speak("Sure. The weather today is mild and sunny.", rate=RATE)
    long = speak("Once upon a time there was a very long story about a voice assistant that would "
                 "not stop talking about the weather, the sea and the mountains.", rate=RATE)
    save_wav(folder / "short.wav", short)
    save_wav(folder / "long.wav", np.concatenate([long, silence(0.3), long]))
    return {"short": folder / "short.wav", "long": folder / "long.wav"}


@pytest.fixture(scope="module")
def user_utterance() -> np.ndarray:
    return speak("Wait, stop please. I have another question.", rate=RATE)


def script(answers: dict[str, Path], count: int) -> dict[str, Any]:
    short = {"text": "Sure. The weather today is mild and sunny.", "audio": str(answers["short"])}
    turns: list[dict[str, Any]] = [{"response": short} for _ in range(count)]
    turns.append({"transcript": "Tell me a long story.",
                  "response": {"text": "Once upon a time...", "audio": str(answers["long"])}})
    return {"turns": turns}


def start(tmp_path: Path, pulse: PulseServer, answers: dict[str, Path], mode: str, count: int
          ) -> tuple[SimulatorProcess, DaemonProcess]:
    simulator = SimulatorProcess(tmp_path, script(answers, count))
    try:
        config = f'[audio]\necho = "{mode}"\n'
        daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), config=config)
    except BaseException:
        simulator.stop()
        raise
    return simulator, daemon


def stop(simulator: SimulatorProcess, daemon: DaemonProcess) -> None:
    try:
        daemon.terminate()
    finally:
        simulator.stop()
    invalid = simulator.invalid_events()
    assert not invalid, f"the daemon sent invalid events: {invalid[:3]}"


def answer(daemon: DaemonProcess, simulator: SimulatorProcess) -> None:
    """One typed turn, its spoken answer played to the end (or cut by a barge-in)."""
    done = len(simulator.sent("response.done"))
    assert "error" not in daemon.rpc("say", {"text": "What is the weather like?"})
    wait_for(lambda: len(simulator.sent("response.done")) > done, 10, "the answer")
    daemon.wait_state("listening", timeout=15)


def test_without_echo_control_the_assistant_interrupts_itself(
        tmp_path: Path, pulse: PulseServer, room: None, answers: dict[str, Path]) -> None:
    simulator, daemon = start(tmp_path, pulse, answers, "off", 1)
    try:
        daemon.rpc("say", {"text": "What is the weather like?"})
        wait_for(lambda: simulator.sent("input_audio_buffer.speech_started"), 10,
                 "the assistant's own voice to start a user turn")
        wait_for(lambda: simulator.sent("response.done"), 5, "the answer to end (cut off or not)")
    finally:
        stop(simulator, daemon)


@pytest.mark.parametrize("mode", ["aec", "gate"])
def test_echo_control_stops_self_interruption_and_keeps_barge_in(
        tmp_path: Path, pulse: PulseServer, room: None, answers: dict[str, Path],
        user_utterance: np.ndarray, mode: str) -> None:
    simulator, daemon = start(tmp_path, pulse, answers, mode, ANSWERS)
    try:
        for _ in range(ANSWERS):
            answer(daemon, simulator)
        # The canceller learns one delay per output stream: with it, the stream keeps running;
        # without it, the stream stops once idle. Either way the last echo tail is over.
        if mode == "aec":
            time.sleep(OUTPUT_IDLE_S + 1.0)
            assert daemon.status()["devices"]["output_running"] is True
        else:
            wait_for(lambda: daemon.status()["devices"]["output_running"] is False, OUTPUT_IDLE_S + 15,
                     "the idle output stream to stop", interval=0.2)
        assert not simulator.sent("input_audio_buffer.speech_started"), (
            f"the assistant interrupted itself: {daemon.status()['devices']['echo']}")
        devices = daemon.status()["devices"]
        echo = devices["echo"]
        assert echo["mode"] == mode
        assert echo["frames_cancelled" if mode == "aec" else "frames_gated"] > 0

        daemon.rpc("say", {"text": "Tell me a long story."})
        daemon.wait_state("speaking", timeout=10)
        time.sleep(2.0)
        talking_over = time.time()
        pulse.play_into_mic(user_utterance).wait(15)
        started = wait_for(lambda: simulator.sent("input_audio_buffer.speech_started"), 5,
                           "the user's voice over the answer to start a turn")
        assert started[0]["t"] >= talking_over
        truncate = wait_for(lambda: simulator.received("conversation.item.truncate"), 5, "a truncate")
        assert truncate[0]["event"]["audio_end_ms"] > 1500
    finally:
        stop(simulator, daemon)
