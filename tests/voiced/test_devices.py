"""Devices that come and go, end to end: a real daemon, the simulator, and PulseAudio sinks
unloaded and loaded again as a headset is unplugged and plugged back in.

PulseAudio does not fail the daemon's streams when their device goes: it moves them
to another device and back when one of the same name returns. The daemon must still
notice (its `status` says `devices.health: "degraded: ..."`, the bus carries one
`device_lost` error), keep the conversation going, and be on the device again once
it is back (`health` "ok", a `device_back` error, sound on the speaker, appends from
the microphone).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.support.processes import DaemonProcess, EventReader, SimulatorProcess, wait_for
from tests.support.pulse import MIC_SINK, SPEAKER_SINK, PulseServer
from tests.support.signals import active_spans, speak
from voiced.pcm import WIRE_RATE as RATE

ANSWER_S = 3.0
SCRIPT = {"turns": [{"response": {"text": "A tone.", "audio": {"tone_s": ANSWER_S, "freq": 440}}}
                    for _ in range(3)]}
pytestmark = pytest.mark.script(SCRIPT)




def health(daemon: DaemonProcess) -> str:
    return daemon.status()["devices"]["health"]


def unplugged(pulse: PulseServer, sink: str, daemon: DaemonProcess, events: EventReader) -> None:
    """Unload `sink`, see the daemon degrade, load it again, see the daemon recover."""
    pulse.unload_sink(sink)
    try:
        wait_for(lambda: health(daemon).startswith("degraded:"), 5, "health to say degraded")
        [lost] = events.wait_for("error")
        assert lost["data"]["code"] == "device_lost" and lost["data"]["fatal"] is False
    finally:
        pulse.load_sink(sink)
    wait_for(lambda: health(daemon) == "ok", 10, "health to be ok again")
    back = events.wait_for("error", count=2)[1]
    assert back["data"]["code"] == "device_back" and back["data"]["fatal"] is False
    errors = [e["data"]["code"] for e in events.of_type("error")]
    assert errors == ["device_lost", "device_back"], f"logged more than once: {errors}"


def test_the_speaker_unplugged_mid_answer_and_back_plays_the_next_answer(
        pulse: PulseServer, simulator: SimulatorProcess, daemon: DaemonProcess) -> None:
    events = EventReader(daemon.socket)
    assert "error" not in daemon.rpc("say", {"text": "Play a tone."})
    daemon.wait_state("speaking", timeout=10)
    time.sleep(0.5)
    unplugged(pulse, SPEAKER_SINK, daemon, events)
    daemon.wait_state("listening", timeout=15)
    assert daemon.process.poll() is None

    speaker = pulse.record_speaker()
    speaker.wait_for_data()
    started = time.time()
    done = len(simulator.sent("response.done"))
    assert "error" not in daemon.rpc("say", {"text": "Play it again."})
    wait_for(lambda: len(simulator.sent("response.done")) > done, 10, "the next answer")
    daemon.wait_state("listening", timeout=15)
    time.sleep(0.3)
    heard = speaker.stop()[speaker.sample_index_at(started):]
    played = sum(end - start for start, end in active_spans(heard, RATE))
    assert played == pytest.approx(ANSWER_S, abs=0.2), f"the speaker played {played:.2f} s of the answer"
    assert daemon.status()["devices"]["reopened"] >= 1
    events.close()


def test_the_microphone_unplugged_and_back_sends_what_it_hears(
        pulse: PulseServer, simulator: SimulatorProcess, daemon: DaemonProcess) -> None:
    events = EventReader(daemon.socket)
    wait_for(lambda: simulator.received("input_audio_buffer.append"), 5, "appends while listening")
    unplugged(pulse, MIC_SINK, daemon, events)
    assert daemon.process.poll() is None

    utterance = speak("Hello again, can you hear me?", rate=RATE)
    started = time.time()
    pulse.play_into_mic(utterance).wait(15)
    wait_for(lambda: simulator.appended_audio(since=started)[0].size > len(utterance), 5,
             "appends after the microphone came back")
    appended, _ = simulator.appended_audio(since=started)
    spoken = sum(end - start for start, end in active_spans(utterance, RATE))
    sent = sum(end - start for start, end in active_spans(appended, RATE))
    assert sent == pytest.approx(spoken, abs=0.3), f"sent {sent:.2f} s of {spoken:.2f} s of speech"
    assert np.abs(appended).max() > 1000
    events.close()
