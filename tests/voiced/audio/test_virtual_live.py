"""A real daemon on virtual devices, with no sound server: a WAV file as the microphone and
a WAV file as the speaker, paced by the clock. What the speaker file holds is what a
real speaker would have played: the answer, cut where the user spoke over it, and the
truncation and `played_ms` agree with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.headless import no_sound_server
from tests.support.processes import SECRET_KEY, DaemonProcess, EventReader, SimulatorProcess, wait_for
from tests.support.signals import active_spans, load_wav, save_wav, silence, speak
from voiced.pcm import WIRE_RATE as RATE

ANSWER_S = 2.0
TONE_ANSWER = {"turns": [{"transcript": "What is the weather like today?",
                          "response": {"text": "A tone.", "audio": {"tone_s": ANSWER_S, "freq": 440}}}]}
LONG_ANSWER = {"turns": [{"transcript": "Tell me a long story.",
                          "response": {"text": "Once upon a time there was a very long tone.",
                                       "audio": {"tone_s": 8.0, "freq": 440}}}]}
SPOKEN_OVER_AT_S = 5.0
"""When the microphone file speaks over the answer: `say` starts an 8 s answer within the
daemon's first second, so this is well inside it however slow the machine."""


@pytest.fixture(scope="module")
def utterance() -> np.ndarray:
    return speak("Hello there. What is the weather like today?", rate=RATE)


def start(folder: Path, simulator: SimulatorProcess, microphone: np.ndarray,
          extra: str = "") -> DaemonProcess:
    """voiced hearing `microphone` from a file and speaking into `folder`/answer.wav."""
    save_wav(folder / "question.wav", microphone, RATE)
    env = {**no_sound_server(folder), "OPENAI_API_KEY": SECRET_KEY,
           "VOICED_API__BASE_URL": simulator.base_url, "VOICED_LOGGING__LEVEL": "debug"}
    config = (f'[audio]\ninput_device = "file:{folder}/question.wav"\n'
              f'output_device = "file:{folder}/answer.wav"\necho = "off"\n{extra}')
    return DaemonProcess(folder, env, config=config)


def first_answer_s(path: Path) -> float:
    """How long the first answer in the WAV file at `path` is audible, in seconds (10 ms
    resolution): the first sound, up to half a second of silence. A machine too loaded to
    feed the speaker in time leaves silence inside the answer, as a sound card would; it is
    not counted, so the sum is what was played."""
    pcm, rate = load_wav(path)
    assert rate == RATE
    answer_end = active_spans(pcm, RATE, min_gap_ms=500)[0][1]
    return sum(min(end, answer_end) - start for start, end in active_spans(pcm, RATE, min_gap_ms=0)
               if start < answer_end)


@pytest.mark.long(8)
@pytest.mark.script(TONE_ANSWER)
def test_a_spoken_question_from_a_file_is_answered_into_a_file(
        tmp_path: Path, simulator: SimulatorProcess, processes: list[Any], utterance: np.ndarray) -> None:
    daemon = start(tmp_path, simulator, np.concatenate([silence(2.0), utterance, silence(3.0)]),
                   f'[recording]\nenabled = true\ndir = "{tmp_path}/recordings"\n')
    processes.append(daemon)
    events = EventReader(daemon.socket)
    [heard] = events.wait_for("user.transcript.completed", timeout=20)
    assert heard["data"]["text"] == TONE_ANSWER["turns"][0]["transcript"]
    events.wait_for("assistant.transcript.completed", timeout=20)
    daemon.wait_state("listening", timeout=10)
    assert first_answer_s(tmp_path / "answer.wav") == pytest.approx(ANSWER_S, abs=0.05)
    events.close()
    assert daemon.terminate() == 0
    [mic] = (tmp_path / "recordings").glob("*/mic.wav")
    recorded, _ = load_wav(mic)
    spoken = active_spans(utterance, RATE)
    said = spoken[-1][1] - spoken[0][0]
    heard_spans = active_spans(recorded, RATE)
    assert heard_spans[-1][1] - heard_spans[0][0] == pytest.approx(said, abs=0.1)
    assert "ALSA" not in daemon.stderr and "jack" not in daemon.stderr.lower()


@pytest.mark.long(8)
@pytest.mark.script(LONG_ANSWER)
def test_speaking_over_the_answer_cuts_the_file_where_the_truncation_says(
        tmp_path: Path, simulator: SimulatorProcess, processes: list[Any], utterance: np.ndarray) -> None:
    over = utterance[:RATE]
    daemon = start(tmp_path, simulator, np.concatenate([silence(SPOKEN_OVER_AT_S), over, silence(4.0)]))
    processes.append(daemon)
    events = EventReader(daemon.socket)
    assert "error" not in daemon.rpc("say", {"text": "Tell me a long story."})
    [truncate] = wait_for(lambda: simulator.received("conversation.item.truncate"), 20, "a truncate")
    [interrupted] = events.wait_for("assistant.interrupted")
    daemon.wait_state("listening", timeout=20)
    audio_end_ms = truncate["event"]["audio_end_ms"]
    assert interrupted["data"]["played_ms"] == audio_end_ms
    assert 500 < audio_end_ms < 7500, "the answer was not cut in the middle"
    played_ms = first_answer_s(tmp_path / "answer.wav") * 1000
    assert played_ms == pytest.approx(audio_end_ms, abs=30), (
        f"truncate says {audio_end_ms} ms, the speaker file holds {played_ms:.0f} ms")
    assert not simulator.received("response.cancel")
    events.close()


@pytest.mark.parametrize(("flags", "line"), [
    (("--input-device", "file:{tmp}/missing.wav", "--output-device", "null"),
     "voiced: cannot open input device 'file:{tmp}/missing.wav': cannot read {tmp}/missing.wav: "
     "No such file or directory\n"),
    (("--input-device", "null", "--output-device", "file:{tmp}/no/folder/answer.wav"),
     "voiced: cannot open output device 'file:{tmp}/no/folder/answer.wav': cannot write "
     "{tmp}/no/folder/answer.wav: No such file or directory\n"),
])
def test_a_virtual_device_that_cannot_open_ends_start_up_with_one_line(
        tmp_path: Path, flags: tuple[str, ...], line: str) -> None:
    env = {**no_sound_server(tmp_path), "VOICED_LOGGING__LEVEL": "warning"}
    argv = [str(Path(sys.executable).parent / "voiced"), "--simulate",
            *(flag.format(tmp=tmp_path) for flag in flags)]
    voiced = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert (voiced.returncode, voiced.stderr) == (1, line.format(tmp=tmp_path))



def test_with_virtual_devices_echo_is_off_and_the_canceller_never_loads(daemon: DaemonProcess) -> None:
    """The default `echo = "aec"` on `null` devices: no echo path, so no canceller (14 MB)."""
    assert daemon.rpc("say", {"text": "hello"})["result"]
    daemon.wait_state("listening", timeout=20)
    assert daemon.status()["devices"]["echo"]["mode"] == "off"
    assert "livekit" not in Path(f"/proc/{daemon.process.pid}/maps").read_text()
