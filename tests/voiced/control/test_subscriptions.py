"""The event stream against a real daemon: snapshot first, consecutive seq, bounded for
a subscriber that does not read, and the microphone path untouched by it."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import time

import pytest

from tests.support.processes import DaemonProcess, EventReader, SimulatorProcess

pytestmark = pytest.mark.daemon_config('[assistant]\noutput_modalities = ["text"]\n')

WORDS = 1500
"""A text answer of this many deltas floods a subscriber that does not read: its socket
buffers hold about 500 events and its queue 256, so most of them are dropped."""


def test_snapshot_then_consecutive_events(daemon: DaemonProcess) -> None:
    reader = EventReader(daemon.socket)
    assert reader.snapshot["state"] == "listening"
    assert reader.snapshot["conversation_id"].startswith("conv_")
    assert daemon.rpc("say", {"text": "hello there"})["result"]["state"] == "thinking"
    reader.wait_for("assistant.response.done")
    reader.wait_for("usage.updated")
    reader.wait_for("state.changed", count=2)  # listening again can come after both
    seqs = [e["seq"] for e in reader.events]
    assert seqs == list(range(1, len(seqs) + 1))
    types = [e["type"] for e in reader.events]
    assert types[:2] == ["user.transcript.completed", "state.changed"]
    assert [e["data"]["state"] for e in reader.of_type("state.changed")] == ["thinking", "listening"]
    reader.close()


def test_topics_filter_by_prefix(daemon: DaemonProcess) -> None:
    reader = EventReader(daemon.socket, topics=["assistant.response"])
    daemon.rpc("say", {"text": "hi"})
    reader.wait_for("assistant.response.done")
    assert {e["type"] for e in reader.events} <= {"assistant.response.started", "assistant.response.done"}
    reader.close()


@pytest.mark.simulator_args("--speed", "200")  # text answers in a blink
def test_a_subscriber_that_does_not_read_loses_the_oldest_and_is_told(
        daemon: DaemonProcess, simulator: SimulatorProcess) -> None:
    stuck = socket.socket(socket.AF_UNIX)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(str(daemon.socket))
    stuck.sendall(b'{"jsonrpc":"2.0","id":1,"method":"subscribe"}\n')
    watcher = EventReader(daemon.socket)
    flood_started = time.time()
    words = " ".join(f"w{i}" for i in range(WORDS))
    daemon.rpc("say", {"text": words})
    watcher.wait_for("assistant.response.done", timeout=60)
    flood_ended = time.time()
    assert len(watcher.of_type("assistant.transcript.delta")) == WORDS  # a reader that reads loses none

    status = daemon.status()
    assert status["counts"]["frames_dropped"] == 0 and status["devices"]["capture_dropped"] == 0
    appends = [r["t"] for r in simulator.received("input_audio_buffer.append")
               if flood_started <= r["t"] <= flood_ended]
    assert appends, "no microphone audio reached the simulator during the flood"
    gaps = [b - a for a, b in itertools.pairwise(appends)]
    assert max(gaps) < 0.5, f"the microphone stalled for {max(gaps):.2f} s while a subscriber was stuck"

    # Now read the stuck connection: the snapshot, what fitted, the notice, the newest events.
    daemon.rpc("pause")
    watcher.wait_for("state.changed")
    stuck.settimeout(2.0)
    received = b""
    with contextlib.suppress(TimeoutError):
        while chunk := stuck.recv(1 << 20):
            received += chunk
    lines = [json.loads(line) for line in received.splitlines()]
    assert lines[0]["result"]["state"]  # the snapshot is the reply
    events = [line["params"] for line in lines[1:]]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    notices = [e["data"]["count"] for e in events if e["type"] == "events.dropped"]
    assert notices and all(count > 0 for count in notices)
    delivered = len(events) - len(notices)
    assert delivered + sum(notices) == len(watcher.events), "every event is delivered or counted"
    assert events[-1]["type"] == "state.changed" and events[-1]["data"]["state"] == "paused"
    stuck.close()
    watcher.close()
