"""Bad audio deltas from a real simulator, played by a real daemon through PulseAudio.

The daemon's speaker runs at 48 kHz, so what it plays is resampled: the path on which a
delta of an odd number of bytes used to raise.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.processes import DaemonProcess, SimulatorProcess, wait_for
from tests.support.pulse import PulseServer
from tests.support.signals import active_spans
from voiced.pcm import WIRE_RATE as RATE


@pytest.mark.simulator_args(
    "--fault", "action=bad_delta,delta=odd,during_response=1,after_deltas=2",
    "--fault", "action=bad_delta,delta=base64,during_response=1,after_deltas=5")
@pytest.mark.daemon_config("[audio]\nsample_rate = 48000\n[listen]\ncues = false\n")
def test_odd_and_bad_deltas_play_on_in_the_same_session(
        pulse: PulseServer, simulator: SimulatorProcess, daemon: DaemonProcess) -> None:
    """Guards [S]12: an odd delta raised in the resampler and a bad one in the decoder,
    ending the session (and the answer) in the middle."""
    speaker = pulse.record_speaker()
    speaker.wait_for_data()
    daemon.rpc("say", {"text": "Tell me a story."})
    wait_for(lambda: simulator.sent("response.done"), 15, "the answer")
    daemon.wait_state("listening", timeout=15)
    heard = speaker.stop()

    sizes = [e["event"]["delta"] for e in simulator.sent("response.output_audio.delta")]  # bytes
    assert any(size % 2 for size in sizes), "the simulator sent no odd delta"
    assert len(simulator.sent("session.created")) == 1, "the session was torn down"
    assert daemon.status()["counts"]["sessions"] == 1
    assert "dropped an audio delta" in daemon.log_file().read_text() + daemon.stderr
    answer_s = sum(sizes) / 2 / RATE
    spans = active_spans(heard, RATE)
    assert spans and sum(end - start for start, end in spans) > 0.8 * answer_s, (
        f"heard {spans} of a {answer_s:.2f} s answer")
    assert np.abs(heard).max() < 32000, "the answer played as noise"
