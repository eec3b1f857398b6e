"""Validation without sockets: what strict mode needs and what the light check refuses."""

from __future__ import annotations

import sys

import pytest

from voiced.simulator.errors import ClientError
from voiced.simulator.validation import StrictValidator, check_client_event


def test_strict_mode_names_the_package_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)
    monkeypatch.setitem(sys.modules, "openai.types.realtime", None)
    with pytest.raises(RuntimeError, match="pip install openai"):
        StrictValidator()


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (
            {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0},
            "missing_required_parameter",
        ),
        (
            {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": "5"},
            "invalid_type",
        ),
        ({"type": "input_audio_buffer.append", "audio": "AAAA"}, "invalid_value"),  # 3 bytes: odd
        ({"type": "session.update", "session": {"type": "transcription"}}, "invalid_value"),
        ({"type": "response.create", "event_id": 7}, "invalid_type"),
    ],
)
def test_light_check_refusals(event, code):
    with pytest.raises(ClientError) as error:
        check_client_event(event)
    assert error.value.code == code


def test_every_ga_client_event_passes_both_checks():
    strict = StrictValidator()
    events = [
        {"type": "session.update", "session": {"type": "realtime", "instructions": "x"}},
        {"type": "input_audio_buffer.append", "audio": "AAA="},
        {"type": "input_audio_buffer.commit"},
        {"type": "input_audio_buffer.clear"},
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": "c", "output": "{}"},
        },
        {"type": "conversation.item.retrieve", "item_id": "i"},
        {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": 10},
        {"type": "conversation.item.delete", "item_id": "i"},
        {"type": "response.create", "response": {"output_modalities": ["text"]}},
        {"type": "response.cancel"},
    ]
    for event in events:
        check_client_event(event)
        strict.check(event)
