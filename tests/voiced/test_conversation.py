"""The conversation core, fed events by hand: every decision without a socket or a device."""

from __future__ import annotations

import base64
import json

import pytest

from voiced.config import Settings
from voiced.conversation import CallTool, Conversation, Play, Publish, Send, State, StopPlayback
from voiced.daemon.session_settings import session_from_settings


def audio_delta(response_id: str, item_id: str, ms: int) -> dict:
    pcm = b"\x01\x00" * (24 * ms)
    return {"type": "response.output_audio.delta", "response_id": response_id, "item_id": item_id,
            "output_index": 0, "content_index": 0, "delta": base64.b64encode(pcm).decode()}


def sends(actions: list) -> list[dict]:
    return [a.event for a in actions if isinstance(a, Send)]


def published(actions: list, type_: str) -> list[dict]:
    return [a.data for a in actions if isinstance(a, Publish) and a.type == type_]


@pytest.fixture
def conversation() -> Conversation:
    conv = Conversation(session_from_settings(Settings(), Settings().profile()))
    conv.connection_opened()
    actions = conv.server_event({"type": "session.created", "session": {"id": "sess_1"}})
    assert sends(actions)[0]["type"] == "session.update"
    return conv


def start_response(conv: Conversation, ms: int = 1000) -> list:
    conv.server_event({"type": "response.created", "response": {"id": "resp_1"}})
    conv.server_event({"type": "response.output_item.added", "response_id": "resp_1",
                       "item": {"id": "item_a", "type": "message", "role": "assistant"}})
    return conv.server_event(audio_delta("resp_1", "item_a", ms))


def test_states_follow_a_turn(conversation: Conversation) -> None:
    assert conversation.state is State.LISTENING
    conversation.server_event({"type": "input_audio_buffer.speech_started", "item_id": "u1"})
    assert conversation.state is State.USER_SPEAKING
    conversation.server_event({"type": "input_audio_buffer.speech_stopped", "item_id": "u1"})
    assert conversation.state is State.THINKING
    actions = start_response(conversation)
    assert conversation.state is State.SPEAKING
    assert next(a for a in actions if isinstance(a, Play)).item_id == "item_a"
    conversation.server_event({"type": "response.done", "response": {"id": "resp_1", "status": "completed"}})
    assert conversation.state is State.SPEAKING  # still playing what arrived
    actions = conversation.playback_drained()
    assert conversation.state is State.LISTENING
    assert published(actions, "state.changed") == [{"state": "listening", "previous": "speaking"}]


def test_barge_in_truncates_to_what_was_played_and_lets_the_server_cancel(conversation: Conversation) -> None:
    start_response(conversation, ms=1000)
    actions = conversation.server_event({"type": "input_audio_buffer.speech_started", "item_id": "u2"})
    assert [a for a in actions if isinstance(a, StopPlayback)] == [StopPlayback(("item_a",))]
    actions = conversation.playback_stopped({"item_a": 420.7})
    assert [(e["type"], e.get("audio_end_ms")) for e in sends(actions)] == [
        ("conversation.item.truncate", 420)]  # server_vad cancels by itself: no response.cancel
    assert published(actions, "assistant.interrupted") == [{"item_id": "item_a", "played_ms": 420}]
    # late audio of the cancelled response is dropped
    assert conversation.server_event(audio_delta("resp_1", "item_a", 100)) == []


def test_played_beyond_received_is_clamped(conversation: Conversation) -> None:
    start_response(conversation, ms=300)
    conversation.interrupt()
    actions = conversation.playback_stopped({"item_a": 350.0})
    truncate = sends(actions)[-1]
    assert truncate["type"] == "conversation.item.truncate" and truncate["audio_end_ms"] == 300


def test_local_interrupt_with_nothing_played_deletes_and_cancels(conversation: Conversation) -> None:
    start_response(conversation)
    assert conversation.interrupt() == [StopPlayback(("item_a",))]
    types = [e["type"] for e in sends(conversation.playback_stopped({"item_a": 0.0}))]
    assert types == ["response.cancel", "conversation.item.delete"]


def test_interrupt_after_the_response_finished_does_not_cancel(conversation: Conversation) -> None:
    start_response(conversation)
    conversation.server_event({"type": "response.done", "response": {"id": "resp_1", "status": "completed"}})
    conversation.interrupt()
    types = [e["type"] for e in sends(conversation.playback_stopped({"item_a": 200.0}))]
    assert types == ["conversation.item.truncate"]


def test_nothing_to_interrupt_sends_nothing(conversation: Conversation) -> None:
    assert conversation.interrupt() == []
    actions = conversation.server_event({"type": "input_audio_buffer.speech_started", "item_id": "u1"})
    assert not [a for a in actions if isinstance(a, (StopPlayback, Send))]


def test_pause_stops_microphone_frames_and_resume_restarts_them(conversation: Conversation) -> None:
    assert conversation.microphone_frame(b"\0\0")["type"] == "input_audio_buffer.append"
    conversation.pause()
    assert conversation.state is State.PAUSED
    assert conversation.microphone_frame(b"\0\0") is None
    conversation.resume()
    assert conversation.microphone_frame(b"\0\0") is not None


def test_pause_mid_utterance_clears_the_server_buffer(conversation: Conversation) -> None:
    conversation.server_event({"type": "input_audio_buffer.speech_started", "item_id": "u1"})
    assert [e["type"] for e in sends(conversation.pause())] == ["input_audio_buffer.clear"]


def test_beta_event_names_are_accepted(conversation: Conversation) -> None:
    conversation.server_event({"type": "response.created", "response": {"id": "r"}})
    conversation.server_event({"type": "response.output_item.added", "response_id": "r",
                               "item": {"id": "i", "type": "message", "role": "assistant"}})
    beta = dict(audio_delta("r", "i", 40), type="response.audio.delta")
    assert any(isinstance(a, Play) for a in conversation.server_event(beta))


def test_fatal_error_puts_the_conversation_in_error(conversation: Conversation) -> None:
    actions = conversation.server_event({"type": "error", "error": {
        "type": "invalid_request_error", "code": "invalid_api_key", "message": "bad key"}})
    assert conversation.state is State.ERROR
    assert published(actions, "error")[0]["fatal"] is True


def test_no_audio_is_sent_before_the_session_exists() -> None:
    conv = Conversation({})
    assert conv.state is State.CONNECTING
    assert conv.microphone_frame(b"\0\0") is None


def test_connection_lost_resets_the_turn_and_lets_received_audio_play(conversation: Conversation) -> None:
    start_response(conversation)
    conversation.server_event({"type": "response.output_audio_transcript.done", "response_id": "resp_1",
                               "item_id": "item_a", "transcript": "all of it"})
    actions = conversation.connection_lost("server closed the session (1001)")
    assert not [a for a in actions if isinstance(a, StopPlayback)]
    assert conversation.state is State.CONNECTING
    [heard] = published(conversation.playback_drained(), "assistant.transcript.completed")
    assert heard["text"] == "all of it"


def test_interruption_cuts_the_transcript_to_what_was_heard(conversation: Conversation) -> None:
    start_response(conversation, ms=1000)
    conversation.server_event({"type": "response.output_audio_transcript.delta", "response_id": "resp_1",
                               "item_id": "item_a", "delta": "one two three four five six seven eight"})
    conversation.interrupt()
    actions = conversation.playback_stopped({"item_a": 500.0})
    [record] = published(actions, "assistant.transcript.completed")
    assert record == {"item_id": "item_a", "text": "one two three four", "interrupted": True}
    # the server's later full transcript does not overwrite what was heard
    done = {"type": "response.output_audio_transcript.done", "response_id": "resp_2", "item_id": "item_a",
            "transcript": "one two three four five six seven eight"}
    assert published(conversation.server_event(done), "assistant.transcript.completed") == []


def test_say_adds_a_user_item_and_asks_for_a_response(conversation: Conversation) -> None:
    actions = conversation.say("what time is it?")
    create, response = sends(actions)
    assert create["type"] == "conversation.item.create" and response["type"] == "response.create"
    assert published(actions, "user.transcript.completed")[0]["item_id"] == create["item"]["id"]
    assert conversation.state is State.THINKING


def test_say_during_an_answer_interrupts_and_waits_for_it_to_close(conversation: Conversation) -> None:
    start_response(conversation)
    actions = conversation.say("stop, tell me something else")
    assert StopPlayback(("item_a",)) in actions
    assert "response.create" not in [e["type"] for e in sends(actions)]
    cancel_and_truncate = sends(conversation.playback_stopped({"item_a": 100.0}))
    assert [e["type"] for e in cancel_and_truncate] == ["response.cancel", "conversation.item.truncate"]
    done = conversation.server_event({"type": "response.done", "response": {"id": "resp_1",
                                                                             "status": "cancelled"}})
    assert [e["type"] for e in sends(done)] == ["response.create"]


def test_push_to_talk_streams_only_while_held() -> None:
    settings = Settings(audio={"turn_detection": "manual"})
    conv = Conversation(session_from_settings(settings, settings.profile()))
    conv.server_event({"type": "session.created", "session": {"id": "s"}})
    assert conv.microphone_frame(b"\0\0") is None
    assert [e["type"] for e in sends(conv.talk(start=True))] == ["input_audio_buffer.clear"]
    assert conv.state is State.USER_SPEAKING
    assert conv.microphone_frame(b"\0\0") is not None
    assert [e["type"] for e in sends(conv.talk(start=False))] == ["input_audio_buffer.commit",
                                                                   "response.create"]
    assert conv.microphone_frame(b"\0\0") is None
    assert conv.state is State.THINKING


def test_user_transcripts_are_reported_by_item_even_after_the_answer(conversation: Conversation) -> None:
    start_response(conversation)
    conversation.server_event({"type": "response.done", "response": {"id": "resp_1", "status": "completed"}})
    late = conversation.server_event({"type": "conversation.item.input_audio_transcription.completed",
                                      "item_id": "user_1", "content_index": 0, "transcript": "hi"})
    assert published(late, "user.transcript.completed") == [{"item_id": "user_1", "text": "hi"}]
    failed = conversation.server_event({"type": "conversation.item.input_audio_transcription.failed",
                                        "item_id": "user_2", "error": {"message": "noise"}})
    assert published(failed, "user.transcript.failed") == [{"item_id": "user_2", "message": "noise"}]


def test_the_transcript_is_reported_once_its_audio_has_played(conversation: Conversation) -> None:
    start_response(conversation, ms=1000)
    done = {"type": "response.output_audio_transcript.done", "response_id": "resp_1", "item_id": "item_a",
            "transcript": "all of it"}
    assert published(conversation.server_event(done), "assistant.transcript.completed") == []
    assert published(conversation.playback_drained(), "assistant.transcript.completed") == [
        {"item_id": "item_a", "text": "all of it", "interrupted": False}]


def test_an_answer_interrupted_after_it_arrived_whole_is_cut(conversation: Conversation) -> None:
    start_response(conversation, ms=1000)
    conversation.server_event({"type": "response.output_audio_transcript.done", "response_id": "resp_1",
                               "item_id": "item_a", "transcript": "alpha beta gamma delta"})
    conversation.server_event({"type": "response.done", "response": {"id": "resp_1", "status": "completed"}})
    conversation.interrupt()
    [record] = published(conversation.playback_stopped({"item_a": 500.0}), "assistant.transcript.completed")
    assert record == {"item_id": "item_a", "text": "alpha beta", "interrupted": True}
    assert published(conversation.playback_drained(), "assistant.transcript.completed") == []


def test_a_new_session_gets_the_conversation_and_the_held_audio_first() -> None:
    from voiced.conversation import Message

    conv = Conversation(session_from_settings(Settings(), Settings().profile()))
    conv.hold()
    assert conv.microphone_frame(b"\x01\x00" * 480) is None  # held while disconnected
    conv.connection_opened(replay=[Message("user", "my name is Ada"), Message("assistant", "Hi Ada")])
    actions = conv.server_event({"type": "session.created", "session": {"id": "sess_2"}})
    events = sends(actions)
    assert [e["type"] for e in events] == ["session.update", "conversation.item.create",
                                           "conversation.item.create", "input_audio_buffer.append"]
    assert events[1]["item"]["content"] == [{"type": "input_text", "text": "my name is Ada"}]
    assert events[2]["item"]["role"] == "assistant"
    assert events[2]["item"]["content"] == [{"type": "output_text", "text": "Hi Ada"}]
    assert published(actions, "session.connected")[0]["replayed_items"] == 2
    assert not conv.holding


def test_frames_are_not_held_unless_asked() -> None:
    conv = Conversation({})
    conv.microphone_frame(b"\0\0")
    conv.connection_opened()
    actions = conv.server_event({"type": "session.created", "session": {"id": "s"}})
    assert [e["type"] for e in sends(actions)] == ["session.update"]


def test_held_audio_keeps_the_newest_ten_seconds_whatever_the_frame_size() -> None:
    from voiced.conversation.held_audio import HELD_MS

    conv = Conversation(session_from_settings(Settings(), Settings().profile()))
    second = 24_000 * 2
    conv.hold([bytes([1]) * second])  # a one-second pre-roll
    for index in range(60):  # then a minute of 200 ms batches, the last ones numbered
        conv.microphone_frame(bytes([index % 250 + 2]) * (second // 5))
    conv.connection_opened()
    actions = conv.server_event({"type": "session.created", "session": {"id": "s"}})
    appends = [base64.b64decode(e["audio"]) for e in sends(actions)
               if e["type"] == "input_audio_buffer.append"]
    assert sum(len(a) for a in appends) == HELD_MS * 48
    assert appends[-1][0] == 61 and appends[0][0] == 61 - HELD_MS // 200 + 1
    assert published(actions, "session.connected")[0]["held_audio_ms"] == HELD_MS


def test_a_tool_call_runs_and_the_answer_waits_for_the_calling_response(conversation: Conversation) -> None:
    conversation.server_event({"type": "response.created", "response": {"id": "resp_t"}})
    actions = conversation.server_event({
        "type": "response.function_call_arguments.done", "response_id": "resp_t", "item_id": "fc_1",
        "output_index": 0, "call_id": "call_1", "name": "clock_now", "arguments": '{"tz": "UTC"}'})
    assert CallTool("call_1", "clock_now", '{"tz": "UTC"}') in actions
    assert published(actions, "tool.called") == [
        {"call_id": "call_1", "name": "clock_now", "arguments": '{"tz": "UTC"}'}]
    finished = sends(conversation.tool_finished("call_1", "12:00"))
    assert [e["type"] for e in finished] == ["conversation.item.create"]  # no response.create yet
    assert finished[0]["item"] == {"type": "function_call_output", "call_id": "call_1", "output": "12:00"}
    done = conversation.server_event({"type": "response.done", "response": {"id": "resp_t",
                                                                             "status": "completed"}})
    assert [e["type"] for e in sends(done)] == ["response.create"]
    assert conversation.state is State.THINKING


def finish_response(conv: Conversation, response_id: str = "resp_1") -> None:
    conv.server_event({"type": "response.done", "response": {"id": response_id, "status": "completed"}})


def test_speaking_between_answers_cuts_the_new_response_not_the_one_heard(
        conversation: Conversation) -> None:
    start_response(conversation)
    finish_response(conversation)
    conversation.playback_drained()  # the first answer was heard whole
    conversation.server_event({"type": "response.created", "response": {"id": "resp_2"}})
    actions = conversation.server_event({"type": "input_audio_buffer.speech_started", "item_id": "u2"})
    assert not [a for a in actions if isinstance(a, (Send, StopPlayback))]  # the server cancels resp_2
    assert published(actions, "assistant.interrupted") == [{"item_id": None, "played_ms": 0}]
    conversation.server_event({"type": "response.output_item.added", "response_id": "resp_2",
                               "item": {"id": "item_b", "type": "message", "role": "assistant"}})
    assert conversation.server_event(audio_delta("resp_2", "item_b", 100)) == []  # late: not played


def test_an_answer_queued_behind_the_one_heard_is_deleted(conversation: Conversation) -> None:
    start_response(conversation, ms=1000)
    finish_response(conversation)
    conversation.server_event({"type": "response.created", "response": {"id": "resp_2"}})
    conversation.server_event({"type": "response.output_item.added", "response_id": "resp_2",
                               "item": {"id": "item_b", "type": "message", "role": "assistant"}})
    conversation.server_event(audio_delta("resp_2", "item_b", 500))
    assert conversation.interrupt() == [StopPlayback(("item_a", "item_b"))]
    sent = sends(conversation.playback_stopped({"item_a": 600.0, "item_b": 0.0}))
    assert [(e["type"], e.get("item_id")) for e in sent] == [
        ("response.cancel", None), ("conversation.item.truncate", "item_a"),
        ("conversation.item.delete", "item_b")]


def test_a_transcript_is_reported_when_the_next_item_starts_playing(conversation: Conversation) -> None:
    start_response(conversation)
    conversation.server_event({"type": "response.output_audio_transcript.done", "response_id": "resp_1",
                               "item_id": "item_a", "transcript": "first"})
    finish_response(conversation)
    conversation.server_event({"type": "response.created", "response": {"id": "resp_2"}})
    conversation.server_event({"type": "response.output_item.added", "response_id": "resp_2",
                               "item": {"id": "item_b", "type": "message", "role": "assistant"}})
    conversation.server_event(audio_delta("resp_2", "item_b", 500))
    assert published(conversation.item_started_playing("item_b"), "assistant.transcript.completed") == [
        {"item_id": "item_a", "text": "first", "interrupted": False}]


def test_nothing_is_sent_before_the_session_exists_and_requests_wait_for_it() -> None:
    settings = Settings(audio={"turn_detection": "manual"})
    conv = Conversation(session_from_settings(settings, settings.profile()))
    conv.hold()
    assert sends(conv.talk(start=True)) == []
    conv.microphone_frame(b"\x01\x00" * 480)
    assert sends(conv.talk(start=False)) == []
    conv.connection_opened()
    events = sends(conv.server_event({"type": "session.created", "session": {"id": "s"}}))
    assert [e["type"] for e in events] == ["session.update", "input_audio_buffer.append",
                                           "input_audio_buffer.clear", "input_audio_buffer.commit",
                                           "response.create"]


def test_a_second_typed_turn_waits_for_the_first_answer(conversation: Conversation) -> None:
    assert [e["type"] for e in sends(conversation.say("one"))] == ["conversation.item.create",
                                                                   "response.create"]
    assert [e["type"] for e in sends(conversation.say("two"))] == ["conversation.item.create"]
    conversation.server_event({"type": "response.created", "response": {"id": "resp_1"}})
    done = conversation.server_event({"type": "response.done", "response": {"id": "resp_1",
                                                                             "status": "completed"}})
    assert [e["type"] for e in sends(done)] == ["response.create"]


def test_a_refused_response_create_does_not_leave_it_thinking(conversation: Conversation) -> None:
    [_, create] = sends(conversation.say("hello"))
    assert conversation.state is State.THINKING
    conversation.server_event({"type": "error", "error": {"type": "invalid_request_error",
                                                          "code": "some_refusal", "message": "no",
                                                          "event_id": create["event_id"]}})
    assert conversation.state is State.LISTENING


def test_after_a_rollover_an_old_item_is_stopped_but_not_truncated(conversation: Conversation) -> None:
    start_response(conversation)
    conversation.connection_lost("server closed the session (1001)")
    conversation.connection_opened()
    conversation.server_event({"type": "session.created", "session": {"id": "sess_2"}})
    assert conversation.interrupt() == [StopPlayback(("item_a",))]
    actions = conversation.playback_stopped({"item_a": 300.0})
    assert sends(actions) == []
    assert published(actions, "assistant.interrupted") == [{"item_id": "item_a", "played_ms": 300}]


def test_a_tool_that_finishes_after_the_user_moved_on_is_not_answered(conversation: Conversation) -> None:
    conversation.server_event({"type": "response.created", "response": {"id": "resp_t"}})
    conversation.server_event({"type": "response.function_call_arguments.done", "response_id": "resp_t",
                               "call_id": "call_1", "name": "slow", "arguments": "{}"})
    finish_response(conversation, "resp_t")
    conversation.server_event({"type": "input_audio_buffer.speech_started", "item_id": "u9"})
    assert [e["type"] for e in sends(conversation.tool_finished("call_1", "late"))] == [
        "conversation.item.create"]


def test_a_new_configuration_goes_to_an_open_session_at_once_else_with_the_next() -> None:
    conv = Conversation({"type": "realtime", "instructions": "old"})
    assert conv.configure({"type": "realtime", "instructions": "new"}) == []
    actions = conv.server_event({"type": "session.created", "session": {"id": "sess_1"}})
    updates = [e for e in sends(actions) if e["type"] == "session.update"]
    assert [u["session"]["instructions"] for u in updates] == ["new"]
    [update] = sends(conv.configure({"type": "realtime", "instructions": "newer"}))
    assert update["type"] == "session.update" and update["session"]["instructions"] == "newer"


def test_truncation_does_not_depend_on_the_server_sending_a_session_id() -> None:
    """Guards [E]4: the GA schema's session has no required `id`; keyed by it, a server
    that omitted it never got a truncate or delete after an interruption."""
    conv = Conversation(session_from_settings(Settings(), Settings().profile()))
    conv.connection_opened()
    conv.server_event({"type": "session.created", "session": {"type": "realtime"}})
    start_response(conv)
    conv.interrupt()
    assert [e["type"] for e in sends(conv.playback_stopped({"item_a": 250.0}))] == [
        "response.cancel", "conversation.item.truncate"]


def test_items_of_an_earlier_connection_are_not_truncated_in_the_next_one() -> None:
    """The counterpart: an item that arrived on a connection that has ended (same missing
    id in both sessions) is gone from the server, so nothing is sent about it."""
    conv = Conversation(session_from_settings(Settings(), Settings().profile()))
    conv.connection_opened()
    conv.server_event({"type": "session.created", "session": {"type": "realtime"}})
    start_response(conv)
    conv.connection_lost("server closed the session (1011)")
    conv.connection_opened()
    conv.server_event({"type": "session.created", "session": {"type": "realtime"}})
    conv.interrupt()
    assert not [e for e in sends(conv.playback_stopped({"item_a": 250.0}))
                if e["type"].startswith("conversation.item.")]


def test_a_flood_of_tool_arguments_reaches_the_tool_not_every_listener(conversation: Conversation) -> None:
    """Guards [S] (soak): `tool.called` carried a megabyte of arguments to every plugin
    inbox and socket subscriber; the tool still gets them whole."""
    arguments = json.dumps({"timezone": "x" * 1_000_000})
    actions = conversation.server_event({"type": "response.function_call_arguments.done", "call_id": "c1",
                                         "name": "clock_now", "arguments": arguments})
    [call] = [a for a in actions if isinstance(a, CallTool)]
    assert call.arguments == arguments
    [shown] = published(actions, "tool.called")
    assert 0 < len(shown["arguments"]) <= 4096
