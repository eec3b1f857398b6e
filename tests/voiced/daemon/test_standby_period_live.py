"""Standby reads the microphone in long periods, waking goes back to short ones, and the
words that woke voiced still arrive whole (see test_listening_live for the first word)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import PulseServer
from tests.support.signals import active_spans, silence, speak
from voiced.audio.duplex import STANDBY_PERIOD_MS
from voiced.pcm import WIRE_RATE as RATE


def input_period_ms(daemon: DaemonProcess) -> int:
    return int(daemon.status()["devices"]["input_period_ms"])


def test_standby_reads_long_periods_and_waking_reads_short_ones_without_losing_a_word(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    """Guards issue 10 item 5: standby costs little because the input stream runs with
    `STANDBY_PERIOD_MS` periods; waking splices the `chunk_ms` stream in behind them, and
    the utterance that woke voiced reaches the server from its first sound to its last."""
    simulator = SimulatorProcess(tmp_path)
    config = '[listen]\nmode = "wake"\ncues = false\nidle_timeout_s = 3\n'
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), config=config, wait_ready=False)
    processes += [simulator, daemon]
    daemon.wait_state("standby", timeout=20)
    wait_for(lambda: input_period_ms(daemon) == STANDBY_PERIOD_MS, 10, "the standby period")

    speech = speak("Hello computer, please tell me the time in Tokyo right now.", rate=RATE)
    pulse.play_into_mic(np.concatenate([speech, silence(1.0)])).wait(15)
    wait_for(lambda: simulator.sent("response.done"), 15, "an answer after waking")
    assert input_period_ms(daemon) == 40, "awake, the microphone is read in chunk_ms periods"
    appended, _ = simulator.appended_audio()
    spoken, arrived = active_spans(speech, RATE), active_spans(appended, RATE)
    assert abs((arrived[-1][1] - arrived[0][0]) - (spoken[-1][1] - spoken[0][0])) <= 0.08, \
        f"words were lost across the change of period: spoken {spoken}, arrived {arrived}"

    daemon.wait_state("standby", timeout=15)  # idle_timeout_s after the answer
    wait_for(lambda: input_period_ms(daemon) == STANDBY_PERIOD_MS, 10, "the standby period again")
