"""Audio deltas as a server may send them: split anywhere, or not base64 at all.

The conversation core is fed crafted events; what it asks to play is what the device
would get. The last test carries the actions out as the daemon does, into a real
playback that resamples for a 48 kHz device.
"""

from __future__ import annotations

import base64
import itertools
import logging
from typing import Any

import numpy as np
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from voiced.audio.playback import Playback
from voiced.audio.resample import Resampler
from voiced.bus import Event
from voiced.config import Settings
from voiced.conversation import CallTool, Conversation, Play, Send, State
from voiced.daemon.current import CurrentConversation
from voiced.daemon.effects import Effects
from voiced.daemon.outbox import Counters, Outbox
from voiced.daemon.session_settings import session_from_settings
from voiced.pcm import WIRE_RATE, pcm_ms

PCM = np.arange(-3000, 3000, 7, dtype=np.int16).tobytes()
"""Samples whose bytes all differ from their neighbours': a shift by one byte shows."""


def session() -> dict[str, Any]:
    return session_from_settings(Settings(), Settings().profile())


def created(conv: Conversation) -> Conversation:
    conv.connection_opened()
    conv.server_event({"type": "session.created", "session": {"id": "sess_1"}})
    return conv


def begin(response_id: str, item_id: str) -> list[dict[str, Any]]:
    return [{"type": "response.created", "response": {"id": response_id}},
            {"type": "response.output_item.added", "response_id": response_id,
             "item": {"id": item_id, "type": "message", "role": "assistant"}}]


def delta(response_id: str, item_id: str, data: bytes | str) -> dict[str, Any]:
    encoded = data if isinstance(data, str) else base64.b64encode(data).decode()
    return {"type": "response.output_audio.delta", "response_id": response_id, "item_id": item_id,
            "delta": encoded}


def done(response_id: str) -> dict[str, Any]:
    return {"type": "response.done", "response": {"id": response_id, "status": "completed"}}


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def played(actions: list[Any]) -> list[bytes]:
    return [a.pcm for a in actions if isinstance(a, Play)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(PCM)), max_size=12))
def test_deltas_split_anywhere_play_exactly_the_original_audio(cuts: list[int]) -> None:
    """Guards [S]12: an odd-length delta shifted every later sample by one byte (noise)."""
    conv = created(Conversation(session()))
    for event in begin("resp_1", "item_a"):
        conv.server_event(event)
    chunks: list[bytes] = []
    for part in split(PCM, cuts):
        chunks += played(conv.server_event(delta("resp_1", "item_a", part)))
    assert all(len(chunk) % 2 == 0 for chunk in chunks)
    assert b"".join(chunks) == PCM
    # What counts as received is what the device can play, so a truncation stays within it.
    conv.interrupt()
    truncate = next(a.event for a in conv.playback_stopped({"item_a": 10_000.0}) if isinstance(a, Send)
                    and a.event["type"] == "conversation.item.truncate")
    assert truncate["audio_end_ms"] == int(pcm_ms(len(PCM)))


def test_a_half_sample_left_at_the_end_of_a_response_is_dropped() -> None:
    """Guards [S]12: the odd byte a response ends with must not shift the next response."""
    conv = created(Conversation(session()))
    for event in begin("resp_1", "item_a"):
        conv.server_event(event)
    assert played(conv.server_event(delta("resp_1", "item_a", PCM[:5]))) == [PCM[:4]]
    conv.server_event(done("resp_1"))
    conv.playback_drained()
    for event in begin("resp_2", "item_b"):
        conv.server_event(event)
    assert played(conv.server_event(delta("resp_2", "item_b", PCM[:6]))) == [PCM[:6]]


def test_a_half_sample_is_dropped_when_the_assistant_is_interrupted() -> None:
    """Guards [S]12: after a cut-off, the next answer starts on a whole sample."""
    conv = created(Conversation(session()))
    for event in begin("resp_1", "item_a"):
        conv.server_event(event)
    conv.server_event(delta("resp_1", "item_a", PCM[:7]))
    conv.interrupt()
    conv.playback_stopped({"item_a": 0.0})
    conv.server_event(done("resp_1"))
    for event in begin("resp_2", "item_b"):
        conv.server_event(event)
    assert played(conv.server_event(delta("resp_2", "item_b", PCM[:6]))) == [PCM[:6]]


@pytest.mark.parametrize("bad", ["not base64!", "QUJD=A", "QQ", "é", 12345, ["QUJD"]],
                         ids=["alphabet", "padding", "truncated", "non-ascii", "number", "list"])
def test_a_bad_delta_is_dropped_with_a_log_line_and_the_rest_plays(
        bad: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Guards [S]12: an audio delta that is not base64 raised out of the conversation."""
    conv = created(Conversation(session()))
    for event in begin("resp_1", "item_a"):
        conv.server_event(event)
    first, second = PCM[:481], PCM[481:960]  # the bad delta comes while a byte is held back
    with caplog.at_level(logging.DEBUG, logger="voiced"):
        chunks = played(conv.server_event(delta("resp_1", "item_a", first)))
        assert conv.server_event({**delta("resp_1", "item_a", b""), "delta": bad}) == []
        conv.server_event({**delta("resp_1", "item_a", b""), "delta": bad})
        chunks += played(conv.server_event(delta("resp_1", "item_a", second)))
    assert b"".join(chunks) == PCM[:960]
    warnings = [r for r in caplog.records if "dropped an audio delta of item item_a" in r.getMessage()]
    assert [r.levelno for r in warnings] == [logging.WARNING, logging.DEBUG]  # once an item, loudly
    assert conv.state is State.SPEAKING


def test_the_daemon_plays_odd_and_bad_deltas_at_another_device_rate() -> None:
    """Guards [S]12: at 48 kHz an odd delta raised in the resampler, and a bad one in the
    decoder, out of the daemon's event handler, which ended the session."""
    playback = Playback(48_000, on_drained=lambda: None, on_item_started=lambda *_: None)
    events = [{"type": "session.created", "session": {"id": "sess_1"}}, *begin("resp_1", "item_a"),
              *[delta("resp_1", "item_a", part) for part in split(PCM, [1, 2, 301, 302, 4001])],
              delta("resp_1", "item_a", "QUJD=A"), done("resp_1")]

    async def no_tools(call: CallTool) -> str:
        raise AssertionError("no tool is called")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            effects = Effects(CurrentConversation.begin(session()), outbox=Outbox(Counters()),
                              speaker=lambda: playback, publish=Event,
                              stamp=lambda type_, data: data, call_tool=no_tools, nursery=nursery)
            effects.session_opened([])
            for event in events:
                assert effects.server_event(event) is None  # no error, no exception: the session goes on

    trio.run(main)
    device = b""
    while playback.queued_ms > 0:
        device += playback.callback(None, 480, {}, 0)[0]
    expected = Resampler(WIRE_RATE, 48_000)(PCM)
    assert device[:len(expected)] == expected
