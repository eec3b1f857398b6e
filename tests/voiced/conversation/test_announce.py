"""Announcements in the conversation core: an instructed response, asked for once it may be."""

from __future__ import annotations

import base64

from voiced.config import Settings
from voiced.conversation import Conversation, Send, State, StopPlayback
from voiced.daemon.session_settings import session_from_settings
from voiced.realtime.protocol import announcement_instructions


def sends(actions: list) -> list[dict]:
    return [a.event for a in actions if isinstance(a, Send)]


def connected() -> Conversation:
    conversation = Conversation(session_from_settings(Settings(), Settings().profile()))
    conversation.connection_opened()
    conversation.server_event({"type": "session.created", "session": {"id": "sess_1"}})
    return conversation


def answering(conversation: Conversation) -> None:
    conversation.server_event({"type": "response.created", "response": {"id": "resp_1"}})
    conversation.server_event({"type": "response.output_item.added", "response_id": "resp_1",
                               "item": {"id": "item_a", "type": "message", "role": "assistant"}})
    conversation.server_event({"type": "response.output_audio.delta", "response_id": "resp_1",
                               "item_id": "item_a", "output_index": 0, "content_index": 0,
                               "delta": base64.b64encode(b"\x01\x00" * 2400).decode()})


def test_an_announcement_asks_for_a_response_told_to_say_the_text() -> None:
    conversation = connected()
    sent = sends(conversation.announce("Dinner is ready."))
    assert [e["type"] for e in sent] == ["response.create"]
    assert sent[0]["response"] == {"instructions": announcement_instructions("Dinner is ready.")}
    assert "conversation.item.create" not in [e["type"] for e in sent]  # no user turn is made up
    assert conversation.state is State.THINKING


def test_an_announcement_cuts_off_an_answer_and_waits_for_it_to_close() -> None:
    conversation = connected()
    answering(conversation)
    actions = conversation.announce("The door is open.")
    assert StopPlayback(("item_a",)) in actions
    sent = sends(actions) + sends(conversation.playback_stopped({"item_a": 0.0}))
    assert "response.cancel" in [e["type"] for e in sent]
    assert "response.create" not in [e["type"] for e in sent]  # the server still has one open
    sent = sends(conversation.server_event({"type": "response.done",
                                            "response": {"id": "resp_1", "status": "cancelled"}}))
    assert [e["type"] for e in sent] == ["response.create"]
    assert sent[0]["response"]["instructions"] == announcement_instructions("The door is open.")


def test_an_announcement_before_the_session_goes_out_once_it_is_up() -> None:
    conversation = Conversation(session_from_settings(Settings(), Settings().profile()))
    conversation.connection_opened()
    assert sends(conversation.announce("Hello.")) == []
    sent = sends(conversation.server_event({"type": "session.created", "session": {"id": "sess_1"}}))
    creates = [e for e in sent if e["type"] == "response.create"]
    assert creates and creates[0]["response"]["instructions"] == announcement_instructions("Hello.")


def test_a_plain_response_after_an_announcement_has_no_instructions() -> None:
    conversation = connected()
    conversation.announce("One.")
    conversation.server_event({"type": "response.created", "response": {"id": "resp_2"}})
    conversation.server_event({"type": "response.done", "response": {"id": "resp_2", "status": "completed"}})
    sent = sends(conversation.say("what now?"))
    assert next(e for e in sent if e["type"] == "response.create").get("response") is None
