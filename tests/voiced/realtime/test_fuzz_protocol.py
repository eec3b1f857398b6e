"""Whatever a server sends, the protocol layer reads it or drops it, and never raises.

From WebSocket message to event (`parse_server_message`, the receive loop), through the
event helpers (`normalise`, `decode_audio`, `ServerError`), into a live conversation.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from typing import Any, cast

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from trio_websocket import CloseReason, ConnectionClosed, WebSocketConnection

from tests.support.fuzzing import FUZZ, audio_payloads, json_values, server_events
from voiced.conversation import Conversation
from voiced.realtime.connection import _receive_loop, parse_server_message
from voiced.realtime.protocol import BETA_ALIASES, OBJECT_MEMBERS, ServerError, decode_audio, normalise

NON_FINITE = st.sampled_from(["1e400", "-1e400", "1E+309", "NaN", "Infinity", "-Infinity"])
"""Numbers a float cannot hold: valid JSON that overflows, or Python's extensions to JSON."""
NUMBERS = NON_FINITE | st.sampled_from(["1e308", "-0", "1e-400", "9" * 400, "9" * 5000])


def _with_member(event: dict[str, Any], name: str, literal: str) -> str:
    """`event` as JSON with one more member whose value is the JSON text `literal`."""
    return json.dumps(event)[:-1] + f", {json.dumps(name)}: {literal}}}"


members = st.sampled_from(["audio_start_ms", "output_index", "delta", "type", "extra"])
messages: st.SearchStrategy[str | bytes] = st.one_of(
    server_events.map(json.dumps),
    st.builds(_with_member, server_events, members, NUMBERS),
    st.builds(_with_member, server_events, members,
              st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth)),
    st.integers(1, 200_000).map(lambda depth: "[" * depth),
    json_values.map(json.dumps),
    st.text(max_size=40),
    st.binary(max_size=40),  # a binary frame; most are not UTF-8
    server_events.map(lambda event: b"\xff" + json.dumps(event).encode()),
)
"""WebSocket messages: events, events with out-of-range numbers or deep nesting,
unterminated nesting, other JSON, text and binary frames."""


def finite_json(value: Any) -> bool:
    """Whether `value` is JSON without NaN or infinities (walked without recursion)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and item - item != 0:
            return False
        if isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            pending += item
        elif not isinstance(item, str | int | float | None):
            return False
    return True


class ScriptedServer:
    """Stands in for the WebSocket: hands out `messages`, then closes normally."""

    def __init__(self, messages: list[str | bytes]) -> None:
        self.messages = deque(messages)

    async def get_message(self) -> str | bytes:
        await trio.lowlevel.checkpoint()
        if not self.messages:
            raise ConnectionClosed(CloseReason(1000, "bye"))
        return self.messages.popleft()


def receive_all(messages: list[str | bytes]) -> list[dict[str, Any]]:
    """Run the receive loop over `messages`; the events it passed on."""
    received: list[dict[str, Any]] = []
    server = cast(WebSocketConnection, ScriptedServer(messages))
    with pytest.raises(ConnectionClosed):
        trio.run(_receive_loop, server, received.append)
    return received


@FUZZ
@given(message=messages)
def test_a_message_is_an_event_or_is_dropped(message: str | bytes) -> None:
    event = parse_server_message(message)
    if event is not None:
        assert isinstance(event["type"], str)
        assert finite_json(event), "a number a float cannot hold reached the conversation"


@FUZZ
@given(event=server_events)
def test_events_arrive_as_sent(event: dict[str, Any]) -> None:
    assert parse_server_message(json.dumps(event)) == event


@FUZZ
@given(event=server_events, member=members, number=NON_FINITE)
def test_an_event_with_a_number_a_float_cannot_hold_is_dropped(event: dict[str, Any], member: str,
                                                               number: str) -> None:
    assert parse_server_message(_with_member(event, member, number)) is None


@FUZZ
@given(batch=st.lists(messages, max_size=8))
def test_the_receive_loop_passes_on_events_and_outlives_the_rest(batch: list[str | bytes]) -> None:
    expected = [event for message in batch if (event := parse_server_message(message)) is not None]
    assert receive_all(batch) == expected


def test_a_message_nested_too_deep_is_dropped_and_the_session_goes_on() -> None:
    """Guards: `json.loads` raised RecursionError for a message nested 100,000 deep; it
    escaped the receive loop, was no SessionEnded, and stopped voiced."""
    speech = {"type": "input_audio_buffer.speech_started", "item_id": "u1"}
    assert receive_all(["[" * 100_000, json.dumps(speech)]) == [speech]


@pytest.mark.parametrize("number", ["1e400", "-1e999", "NaN", "Infinity"])
def test_an_event_with_a_non_finite_number_is_dropped(number: str) -> None:
    """Guards: `1e400` parsed to inf and `NaN` to nan; the conversation published them in
    events that cannot be sent as JSON (a subscriber's notification was dropped)."""
    message = f'{{"type": "input_audio_buffer.speech_started", "audio_start_ms": {number}}}'
    assert receive_all([message]) == []


@FUZZ
@given(event=st.one_of(server_events, st.dictionaries(st.text(max_size=6), json_values, max_size=4)))
def test_normalise_renames_beta_events_and_keeps_the_rest(event: dict[str, Any]) -> None:
    """Object members that are not objects read as missing ({}); all else is kept."""
    before = json.dumps(event)
    normal = normalise(event)
    assert json.dumps(event) == before, "the event it was given is unchanged"
    type_ = event.get("type")
    renamed = BETA_ALIASES.get(type_) if isinstance(type_, str) else None
    expected = {**event, "type": renamed} if renamed else dict(event)
    expected.update({name: {} for name in OBJECT_MEMBERS
                     if name in event and not isinstance(event[name], dict)})
    assert normal == expected


@FUZZ
@given(field=st.sampled_from(["delta", "audio"]), payload=audio_payloads | json_values)
def test_decode_audio_returns_bytes_or_says_why_not(field: str, payload: Any) -> None:
    try:
        data = decode_audio({field: payload})
    except ValueError:
        return
    assert isinstance(data, bytes)
    if isinstance(payload, str):
        assert data == base64.b64decode(payload, validate=True), "all of it, nothing skipped"


@FUZZ
@given(event=st.one_of(server_events, st.builds(lambda error: {"type": "error", "error": error},
                                                 json_values)))
def test_any_error_event_reads_as_a_server_error(event: dict[str, Any]) -> None:
    error = ServerError.from_event(event)
    assert isinstance(error.type, str) and isinstance(error.message, str)
    assert error.code is None or isinstance(error.code, str)
    assert error.event_id is None or isinstance(error.event_id, str)
    assert isinstance(error.fatal, bool)


@FUZZ
@given(batch=st.lists(messages, max_size=12))
def test_a_live_conversation_takes_whatever_the_server_sends(batch: list[str | bytes]) -> None:
    conversation = Conversation({"type": "realtime"})
    conversation.connection_opened()
    conversation.server_event({"type": "session.created", "session": {"id": "sess_1"}})
    for message in batch:
        if (event := parse_server_message(message)) is not None:
            assert isinstance(conversation.server_event(event), list)
