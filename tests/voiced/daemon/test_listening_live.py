"""Listening modes end to end: standby sends nothing, voice wakes it with its first word,
idleness puts it back, and the budget stops it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.processes import DaemonProcess, EventReader, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import PulseServer
from tests.support.signals import active_spans, envelope_similarity, silence, speak
from voiced.pcm import WIRE_RATE as RATE


def test_standby_sends_nothing_and_speech_wakes_it_from_the_first_word(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    simulator = SimulatorProcess(tmp_path)
    config = '[listen]\nmode = "wake"\ncues = false\nidle_timeout_s = 3\n'
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), config=config, wait_ready=False)
    processes += [simulator, daemon]
    daemon.wait_state("standby", timeout=20)
    noise = (np.random.default_rng(3).standard_normal(RATE * 4) * 100).astype(np.int16)  # about -50 dBFS
    pulse.play_into_mic(noise).wait(10)
    assert daemon.status()["state"] == "standby"
    assert simulator.events("in") == [], "something left the machine in standby"

    speech = speak("Computer, what is on my calendar today?", rate=RATE)
    pulse.play_into_mic(np.concatenate([speech, silence(1.0)])).wait(15)
    wait_for(lambda: simulator.sent("response.done"), 15, "an answer after waking")
    appended, _ = simulator.appended_audio()
    spoken = active_spans(speech, RATE)
    arrived = active_spans(appended, RATE)
    # From the first sound to the last: a pause between words may measure a window longer
    # and split a span, but a cut first word shortens the whole.
    assert arrived[-1][1] - arrived[0][0] == pytest.approx(spoken[-1][1] - spoken[0][0], abs=0.08), \
        f"the first word was cut: spoken {spoken}, arrived {arrived}"
    correlation, _ = envelope_similarity(speech, appended, RATE)
    assert correlation > 0.8
    assert daemon.status()["listen"]["last_change_reason"] == "voice"

    daemon.wait_state("standby", timeout=15)  # idle_timeout_s after the answer
    # The state changes first; the session closes a few ms later.
    wait_for(lambda: not daemon.status()["session"]["connected"], 5, "standby to close the session")
    # What the daemon sent before it hung up can still be in the simulator's receive buffer:
    # count from the simulator's own record of the session's end.
    wait_for(lambda: any(r["event"]["type"] == "sim.ended" for r in simulator.events("sim")), 10,
             "the simulator to see the session end")
    sent = len(simulator.events("in"))
    pulse.play_into_mic(noise[: RATE]).wait(5)
    extra = [(r["session"], r["event"]["type"]) for r in simulator.events("in")[sent:]]
    assert not extra, f"something left the machine in standby: {extra[:8]}"


def test_the_daily_budget_sends_it_to_standby_after_the_answer(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    simulator = SimulatorProcess(tmp_path)
    config = "[budget]\ndaily_usd = 0.001\n[listen]\ncues = false\n"
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), config=config)
    processes += [simulator, daemon]
    events = EventReader(daemon.socket)
    daemon.rpc("say", {"text": "How much does this cost?"})
    daemon.wait_state("standby", timeout=20)
    [error] = [e["data"] for e in events.of_type("error")]
    assert error["code"] == "budget_exceeded" and "budget" in error["message"]
    # wait_state asked the daemon; the event stream may still be on its way
    wait_for(lambda: [e["data"]["state"] for e in events.of_type("state.changed")][-1:] == ["standby"], 5,
             "the standby event")
    states = [e["data"]["state"] for e in events.of_type("state.changed")]
    assert states[-2:] == ["listening", "standby"], "standby came before the answer finished"
    woken = daemon.voicectl("wake")
    assert woken.returncode == 2 and "budget" in woken.stderr
    usage = json.loads(daemon.voicectl("usage", "--json").stdout)
    assert usage["over_budget"] is True and usage["today"]["cost_usd"] >= 0.001
    time.sleep(0.5)
    assert daemon.status()["state"] == "standby"
    events.close()
