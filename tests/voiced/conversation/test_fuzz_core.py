"""The conversation core under any sequence of server events and local events.

A rule-based state machine plays both the server (GA events, some malformed, with ids
that refer to each other or to nothing) and the daemon (the user's commands, the
playback's reports, tools finishing), carrying each action out as the daemon's effects
do. Whatever happens: no exception, every action well formed, `state.changed` tells the
truth, and a session end brings the conversation back to a quiet state from which a
plain turn works.
"""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.support.fuzzing import FUZZ, ITEM_IDS, server_events
from tests.support.schema import client_events
from voiced.config import Settings
from voiced.conversation import (
    Action,
    CallTool,
    Conversation,
    Message,
    Play,
    Publish,
    Send,
    State,
    StopPlayback,
)
from voiced.daemon.session_settings import session_from_settings

EVENT_TYPES = frozenset({
    "state.changed", "session.connected", "session.disconnected", "user.speech.started",
    "user.speech.stopped", "user.transcript.delta", "user.transcript.completed",
    "user.transcript.failed", "assistant.response.started", "assistant.audio.started",
    "assistant.transcript.delta", "assistant.transcript.completed", "assistant.interrupted",
    "assistant.response.done", "tool.called", "rate_limits.updated", "error",
})
"""The contract's event types the conversation publishes."""


def _session(turn_detection: str, **detection: bool) -> dict[str, Any]:
    settings = Settings(audio={"turn_detection": turn_detection})
    session = copy.deepcopy(session_from_settings(settings, settings.profile()))
    if detection:
        session["audio"]["input"]["turn_detection"].update(detection)
    return session


SESSIONS = {
    "server_vad": _session("server_vad"),
    "semantic_vad": _session("semantic_vad"),
    "manual": _session("manual"),
    "vad_without_interrupting": _session("server_vad", interrupt_response=False),
    "vad_without_answers": _session("server_vad", create_response=False),
}
QUIET = frozenset({State.LISTENING, State.STANDBY, State.PAUSED, State.ERROR})
PLAYED_MS = st.floats(0, 3000)
"""How much of the item being heard the playback reports as played when stopped."""


def check(action: Action) -> None:
    """Every action is what the daemon can carry out: valid client events, whole samples,
    contract events with strict JSON data."""
    if isinstance(action, Send):
        json.dumps(action.event, allow_nan=False)
        client_events().validate_python(action.event)
    elif isinstance(action, Play):
        assert isinstance(action.item_id, str)
        assert action.pcm and len(action.pcm) % 2 == 0, "audio is played in whole PCM16 samples"
    elif isinstance(action, StopPlayback):
        assert all(isinstance(item_id, str) for item_id in action.item_ids)
    elif isinstance(action, Publish):
        assert action.type in EVENT_TYPES
        json.dumps(action.data, allow_nan=False)
    elif isinstance(action, CallTool):
        assert action.call_id and action.name and isinstance(action.arguments, str)
    else:
        raise AssertionError(f"not an action: {action!r}")


class ConversationMachine(RuleBasedStateMachine):
    """One conversation, fed server and local events; carries out its actions in order."""

    def __init__(self) -> None:
        super().__init__()
        self.conversation = Conversation(SESSIONS["server_vad"])
        self.shown = State.CONNECTING
        """The state a subscriber following `state.changed` believes the conversation is in."""
        self.queued: list[str] = []
        """Items with audio in the imaginary playback, the one being heard first."""
        self.tools: list[str] = []
        self.fresh = itertools.count(1)

    def carry_out(self, actions: list[Action], played_ms: float = 0.0) -> list[Action]:
        """Check and apply `actions` as voiced.daemon.effects does (a stop is answered at
        once with how much was played); all actions carried out, nested ones included."""
        assert isinstance(actions, list)
        done: list[Action] = []
        for action in actions:
            check(action)
            done.append(action)
            if isinstance(action, Play) and action.item_id not in self.queued:
                self.queued.append(action.item_id)
            elif isinstance(action, StopPlayback):
                self.queued.clear()
                # Only the first item can have been heard; those queued behind it, not yet.
                played = {item_id: played_ms if n == 0 else 0.0 for n, item_id in enumerate(action.item_ids)}
                done += self.carry_out(self.conversation.playback_stopped(played), played_ms)
            elif isinstance(action, CallTool):
                self.tools.append(action.call_id)
            elif isinstance(action, Publish) and action.type == "state.changed":
                assert action.data["previous"] == self.shown.value, "state.changed out of order"
                self.shown = State(action.data["state"])
        return done

    @invariant()
    def subscribers_see_the_true_state(self) -> None:
        assert self.shown is self.conversation.state

    # -- the server -----------------------------------------------------------------

    @initialize(kind=st.sampled_from(sorted(SESSIONS)), connect=st.booleans())
    def start(self, kind: str, connect: bool) -> None:
        self.conversation = Conversation(SESSIONS[kind])
        if connect:
            self.carry_out(self.conversation.connection_opened())
            self.carry_out(self.conversation.server_event({"type": "session.created",
                                                          "session": {"id": "sess_1"}}))

    @rule(event=server_events, played_ms=PLAYED_MS)
    def server_event(self, event: dict[str, Any], played_ms: float) -> None:
        self.carry_out(self.conversation.server_event(event), played_ms)

    @rule(replay=st.lists(st.builds(Message, st.sampled_from(["user", "assistant"]), st.text(max_size=8)),
                          max_size=3))
    def connection_opened(self, replay: list[Message]) -> None:
        self.carry_out(self.conversation.connection_opened(replay))

    @rule(fatal=st.booleans(), keep_audio=st.booleans())
    def connection_lost(self, fatal: bool, keep_audio: bool) -> None:
        conversation = self.conversation
        self.carry_out(conversation.connection_lost("server closed the session (1011)", fatal=fatal))
        self.carry_out(conversation.hold() if keep_audio else conversation.release())

    # -- the daemon -----------------------------------------------------------------

    @rule(kind=st.sampled_from(sorted(SESSIONS)))
    def configure(self, kind: str) -> None:
        self.carry_out(self.conversation.configure(SESSIONS[kind]))

    @rule()
    def clear_error(self) -> None:
        self.carry_out(self.conversation.clear_error())

    @rule(pcm=st.binary(max_size=960))
    def microphone_frame(self, pcm: bytes) -> None:
        event = self.conversation.microphone_frame(pcm)
        if event is not None:
            assert self.conversation.connected and event["type"] == "input_audio_buffer.append"
            client_events().validate_python(event)

    @rule(frames=st.lists(st.binary(max_size=960), max_size=3))
    def hold(self, frames: list[bytes]) -> None:
        self.carry_out(self.conversation.hold(frames))

    @rule()
    def release(self) -> None:
        self.carry_out(self.conversation.release())

    @rule(data=st.data())
    def item_started_playing(self, data: st.DataObject) -> None:
        item_id = data.draw(st.sampled_from(self.queued) if self.queued else ITEM_IDS)
        if item_id in self.queued:
            del self.queued[: self.queued.index(item_id)]
        self.carry_out(self.conversation.item_started_playing(item_id))

    @rule()
    def playback_drained(self) -> None:
        self.queued.clear()
        self.carry_out(self.conversation.playback_drained())

    @rule()
    def pause(self) -> None:
        self.carry_out(self.conversation.pause())

    @rule()
    def resume(self) -> None:
        self.carry_out(self.conversation.resume())

    @rule(standby=st.booleans())
    def set_standby(self, standby: bool) -> None:
        self.carry_out(self.conversation.set_standby(standby))

    @rule(played_ms=PLAYED_MS)
    def interrupt(self, played_ms: float) -> None:
        self.carry_out(self.conversation.interrupt(), played_ms)
        assert not self.conversation.audio_playing
        assert self.conversation.state is not State.SPEAKING

    @rule(text=st.text(max_size=12), played_ms=PLAYED_MS)
    def say(self, text: str, played_ms: float) -> None:
        self.carry_out(self.conversation.say(text), played_ms)

    @rule(start=st.booleans(), played_ms=PLAYED_MS)
    def talk(self, start: bool, played_ms: float) -> None:
        self.carry_out(self.conversation.talk(start), played_ms)

    @rule(data=st.data(), output=st.text(max_size=12))
    def tool_finished(self, data: st.DataObject, output: str) -> None:
        call_id = data.draw(st.sampled_from(self.tools) if self.tools else st.just("call_unknown"))
        self.carry_out(self.conversation.tool_finished(call_id, output))

    # -- leaving any state --------------------------------------------------------------

    @rule()
    def session_ends_and_a_plain_turn_works(self) -> None:
        """The way out of anything: the session ends (the daemon stops the playback first
        on a restart); a new one comes up quiet, and a typed turn is answered and heard."""
        conversation = self.conversation
        self.carry_out(conversation.interrupt())
        self.carry_out(conversation.connection_lost("restart"))
        self.carry_out(conversation.release())
        self.queued.clear()
        self.carry_out(conversation.playback_drained())
        for leave in (conversation.resume, conversation.clear_error):
            self.carry_out(leave())
        self.carry_out(conversation.set_standby(False))
        assert conversation.state is State.CONNECTING and not conversation.audio_playing
        self.carry_out(conversation.connection_opened())
        n = next(self.fresh)
        self.carry_out(conversation.server_event({"type": "session.created",
                                                  "session": {"id": f"sess_fresh_{n}"}}))
        assert conversation.state is State.LISTENING

        asked = self.carry_out(conversation.say("are you there?"))
        assert [a.event["type"] for a in asked if isinstance(a, Send)] == [
            "conversation.item.create", "response.create"]
        response_id, item_id = f"resp_fresh_{n}", f"item_fresh_{n}"
        answer = [
            {"type": "response.created", "response": {"id": response_id}},
            {"type": "response.output_item.added", "response_id": response_id,
             "item": {"id": item_id, "type": "message", "role": "assistant"}},
            {"type": "response.output_audio.delta", "response_id": response_id, "item_id": item_id,
             "delta": "AAEAAQ=="},
            {"type": "response.output_audio_transcript.done", "response_id": response_id,
             "item_id": item_id, "transcript": "yes"},
            {"type": "response.done", "response": {"id": response_id, "status": "completed"}},
        ]
        heard = [a for event in answer for a in self.carry_out(conversation.server_event(event))]
        assert Play(item_id, b"\x00\x01\x00\x01") in heard
        assert conversation.state is State.SPEAKING
        self.queued.clear()
        finished = self.carry_out(conversation.playback_drained())
        assert Publish("assistant.transcript.completed",
                       {"item_id": item_id, "text": "yes", "interrupted": False}) in finished
        assert conversation.state in QUIET

    def teardown(self) -> None:
        self.session_ends_and_a_plain_turn_works()


ConversationMachine.TestCase.settings = FUZZ
TestConversationCore = ConversationMachine.TestCase


@pytest.mark.parametrize("event", [
    {"type": "session.created", "session": "sess_1"},
    {"type": "response.created", "response": ["resp_1"]},
    {"type": "response.output_item.added", "response_id": "resp_1", "item": 7},
    {"type": "response.done", "response": True},
    {"type": "conversation.item.input_audio_transcription.failed", "item_id": "u1", "error": "noise"},
])
def test_a_member_that_should_be_an_object_and_is_not_reads_as_missing(event: dict[str, Any]) -> None:
    """Guards: `.get` on a string, list, number or bool raised AttributeError, and the
    receive loop ended the session for one malformed event ("could not handle ...")."""
    conversation = Conversation(SESSIONS["server_vad"])
    conversation.connection_opened()
    conversation.server_event({"type": "session.created", "session": {"id": "sess_1"}})
    for action in conversation.server_event(event):
        check(action)
    assert conversation.state is State.LISTENING
