"""Responses wanted while another is under way: asked for in order, each with its own
instructions, and a refused one asked for again as it was."""

from __future__ import annotations

from voiced.config import Settings
from voiced.conversation import Conversation, Send, State
from voiced.conversation.wanted import WantedResponses
from voiced.daemon.session_settings import session_from_settings
from voiced.realtime.protocol import announcement_instructions

BUSY = "conversation_already_has_active_response"


def creates(actions: list) -> list[dict]:
    return [a.event for a in actions if isinstance(a, Send) and a.event["type"] == "response.create"]


def instructions(create: dict) -> str | None:
    return (create.get("response") or {}).get("instructions")


def connected() -> Conversation:
    conversation = Conversation(session_from_settings(Settings(), Settings().profile()))
    conversation.connection_opened()
    conversation.server_event({"type": "session.created", "session": {"id": "sess_1"}})
    return conversation


def created(conversation: Conversation, response_id: str) -> None:
    conversation.server_event({"type": "response.created", "response": {"id": response_id}})


def done(conversation: Conversation, response_id: str) -> list:
    return conversation.server_event({"type": "response.done",
                                      "response": {"id": response_id, "status": "completed"}})


def refused(conversation: Conversation, create: dict, code: str = BUSY) -> list:
    return conversation.server_event({"type": "error", "error": {
        "type": "invalid_request_error", "code": code, "message": "no", "event_id": create["event_id"]}})


def test_a_refused_answer_is_asked_again_without_an_earlier_announcements_instructions() -> None:
    conversation = connected()
    conversation.say("hello")
    created(conversation, "resp_1")
    conversation.announce("Dinner is ready.")  # waits for resp_1 to close
    [announcement] = creates(done(conversation, "resp_1"))
    assert instructions(announcement) == announcement_instructions("Dinner is ready.")
    created(conversation, "resp_2")
    done(conversation, "resp_2")
    [answer] = creates(conversation.say("what time is it?"))
    assert instructions(answer) is None
    assert creates(refused(conversation, answer)) == []  # asked again once the other is done
    created(conversation, "resp_other")
    [again] = creates(done(conversation, "resp_other"))
    assert instructions(again) is None


def test_a_refused_announcement_is_asked_again_with_its_instructions() -> None:
    conversation = connected()
    [announcement] = creates(conversation.announce("The door is open."))
    refused(conversation, announcement)
    created(conversation, "resp_other")
    [again] = creates(done(conversation, "resp_other"))
    assert instructions(again) == announcement_instructions("The door is open.")
    assert again["event_id"] != announcement["event_id"]


def test_an_announcement_and_an_answer_wanted_meanwhile_both_go_out_in_order() -> None:
    conversation = connected()
    conversation.say("one")
    created(conversation, "resp_1")
    assert creates(conversation.announce("The door is open.")) == []
    assert creates(conversation.say("two")) == []
    [first] = creates(done(conversation, "resp_1"))
    assert instructions(first) == announcement_instructions("The door is open.")
    created(conversation, "resp_2")
    [second] = creates(done(conversation, "resp_2"))
    assert instructions(second) is None
    created(conversation, "resp_3")
    assert creates(done(conversation, "resp_3")) == []
    assert conversation.state is State.LISTENING


def test_an_announcement_wanted_after_an_answer_is_not_lost() -> None:
    conversation = connected()
    conversation.say("one")
    created(conversation, "resp_1")
    conversation.say("two")
    conversation.announce("Dinner is ready.")
    [first] = creates(done(conversation, "resp_1"))
    assert instructions(first) is None
    created(conversation, "resp_2")
    [second] = creates(done(conversation, "resp_2"))
    assert instructions(second) == announcement_instructions("Dinner is ready.")


def test_another_refusal_drops_that_response_and_asks_for_the_next() -> None:
    conversation = connected()
    [first] = creates(conversation.say("one"))
    conversation.announce("Dinner is ready.")
    [next_] = creates(refused(conversation, first, "invalid_value"))
    assert instructions(next_) == announcement_instructions("Dinner is ready.")


def test_nothing_wanted_outlives_the_connection() -> None:
    conversation = connected()
    [first] = creates(conversation.say("one"))
    conversation.announce("Dinner is ready.")
    conversation.connection_lost("gone")
    conversation.connection_opened()
    sent = conversation.server_event({"type": "session.created", "session": {"id": "sess_2"}})
    assert creates(sent) == []
    assert creates(refused(conversation, first)) == []  # an error about the old session's request
    assert conversation.state is State.LISTENING


def test_a_plain_response_right_behind_another_is_not_doubled() -> None:
    wanted = WantedResponses()
    wanted.want()
    wanted.want()
    wanted.want("say it")
    wanted.want()
    assert [wanted.take() for _ in range(3)] == [None, "say it", None]
    assert not wanted
