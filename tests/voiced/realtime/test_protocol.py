"""Client events are valid GA events (checked with the openai SDK's own types)."""

from __future__ import annotations

import base64

import pytest

from tests.support.schema import client_events
from voiced.realtime.protocol import ClientEvents, ServerError, normalise, realtime_url, session_config


@pytest.mark.parametrize(("base", "url"), [
    ("https://api.openai.com/v1", "wss://api.openai.com/v1/realtime?model=gpt-realtime"),
    ("http://127.0.0.1:8123/v1/", "ws://127.0.0.1:8123/v1/realtime?model=gpt-realtime"),
    ("ws://localhost:9/v1", "ws://localhost:9/v1/realtime?model=gpt-realtime"),
])
def test_realtime_url(base: str, url: str) -> None:
    assert realtime_url(base, "gpt-realtime") == url


def test_realtime_url_rejects_other_schemes() -> None:
    with pytest.raises(ValueError, match="http"):
        realtime_url("ftp://example/v1", "m")


@pytest.mark.parametrize("turn_detection", ["server_vad", "semantic_vad", None])
@pytest.mark.parametrize("noise_reduction", ["near_field", "far_field", None])
def test_session_update_is_ga(turn_detection: str | None, noise_reduction: str | None) -> None:
    session = session_config(model="gpt-realtime", voice="cedar", instructions="be brief",
                             prompt_id="pmpt_1", turn_detection=turn_detection,
                             noise_reduction=noise_reduction,
                             transcription_model="gpt-4o-mini-transcribe", transcription_language="en")
    event = ClientEvents().session_update(session)
    parsed = client_events().validate_python(event)
    assert parsed.type == "session.update"
    audio_input = event["session"]["audio"]["input"]
    assert audio_input["format"] == {"type": "audio/pcm", "rate": 24000}
    assert (audio_input["turn_detection"] is None) == (turn_detection is None)
    assert audio_input["transcription"] == {"model": "gpt-4o-mini-transcribe", "language": "en"}
    assert event["session"]["prompt"] == {"id": "pmpt_1"}


def test_no_transcription_model_asks_for_no_transcript() -> None:
    session = session_config(model="gpt-realtime", voice="marin")
    assert "transcription" not in session["audio"]["input"]
    client_events().validate_python(ClientEvents().session_update(session))


def test_every_client_event_validates() -> None:
    events = ClientEvents()
    built = [
        events.append_audio(b"\x00\x01" * 480),
        events.commit_audio(),
        events.clear_audio(),
        events.create_response(),
        events.cancel_response(),
        events.cancel_response("resp_1"),
        events.truncate_item("item_1", 1234),
        events.delete_item("item_1"),
        events.add_user_text("hello"),
    ]
    for event in built:
        client_events().validate_python(event)
    assert len({e["event_id"] for e in built}) == len(built)
    assert base64.b64decode(built[0]["audio"]) == b"\x00\x01" * 480


def test_beta_names_are_renamed_and_others_kept() -> None:
    assert normalise({"type": "response.audio_transcript.delta"})["type"] == \
        "response.output_audio_transcript.delta"
    assert normalise({"type": "response.output_audio.delta", "x": 1}) == \
        {"type": "response.output_audio.delta", "x": 1}


def test_fatal_error_codes() -> None:
    error = ServerError.from_event({"type": "error",
                                    "error": {"code": "insufficient_quota", "message": "m"}})
    assert error.fatal
    recoverable = {"type": "error", "error": {"code": "response_cancel_not_active"}}
    assert not ServerError.from_event(recoverable).fatal


def test_replayed_messages_validate() -> None:
    events = ClientEvents()
    for role in ("user", "assistant"):
        client_events().validate_python(events.add_message(role, "text"))


def test_tool_output_validates() -> None:
    client_events().validate_python(ClientEvents().add_tool_output("call_1", '{"time": "12:00"}'))
