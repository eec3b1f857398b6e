"""The live view's model and the event lines, fed events by hand (no terminal, no daemon)."""

from __future__ import annotations

from voicectl.events import format_event
from voicectl.view import LiveView


def feed(view: LiveView, *events: tuple[str, dict]) -> None:
    for type_, data in events:
        view.apply_event(type_, data, 1_000.0)


def test_deltas_stream_in_place_and_the_completed_text_replaces_them() -> None:
    view = LiveView()
    feed(
        view,
        ("assistant.transcript.delta", {"item_id": "a", "delta": "Hel"}),
        ("assistant.transcript.delta", {"item_id": "a", "delta": "lo"}),
    )
    assert view.rows(80, 10) == [("assistant: Hello ...", "assistant")]
    feed(view, ("assistant.transcript.completed", {"item_id": "a", "text": "Hello.", "interrupted": False}))
    assert view.rows(80, 10) == [("assistant: Hello.", "assistant")]


def test_a_spoken_turn_keeps_its_place_before_the_answer() -> None:
    view = LiveView()
    feed(
        view,
        ("user.speech.started", {"item_id": "u"}),
        ("assistant.transcript.delta", {"item_id": "a", "delta": "Sure"}),
        ("user.transcript.completed", {"item_id": "u", "text": "tell me"}),
    )
    assert [text for text, _ in view.rows(80, 10)] == ["you: tell me", "assistant: Sure ..."]


def test_an_interrupted_answer_is_marked() -> None:
    view = LiveView()
    feed(
        view,
        ("assistant.transcript.delta", {"item_id": "a", "delta": "A long"}),
        ("assistant.interrupted", {"item_id": "a", "played_ms": 1250}),
        ("assistant.transcript.completed", {"item_id": "a", "text": "A long", "interrupted": True}),
    )
    assert view.rows(80, 10) == [("assistant: A long [interrupted after 1.2 s]", "assistant")]


def test_compact_and_wrapping() -> None:
    view = LiveView()
    feed(view, ("user.transcript.completed", {"item_id": "u", "text": "one two three four five six"}))
    assert [text for text, _ in view.rows(20, 10)] == ["you: one two three", "     four five six"]
    view.compact = True
    assert view.rows(20, 10) == [("> one two three fou~", "user")]


def test_status_line_from_events() -> None:
    view = LiveView()
    feed(
        view,
        ("assistant.response.done", {"latency": {"first_played_ms": 64.6}}),
        ("usage.updated", {"today": {"total": 42, "cost_usd": 0.00144}}),
    )
    assert view.status_line() == "last turn: first sound after 65 ms | today: 42 tokens, $0.0014 | /help"


def test_event_lines_put_transcripts_last_and_quote_them() -> None:
    line = format_event(
        {
            "seq": 1,
            "ts": 0.25,
            "type": "user.transcript.completed",
            "data": {"item_id": "m1", "text": "hello there", "typed": True},
        }
    )
    assert line.split(" ", 2)[1:] == ["user.transcript.completed", 'item_id=m1 typed=true text="hello there"']
    done = format_event(
        {
            "seq": 2,
            "ts": 0.5,
            "type": "assistant.response.done",
            "data": {
                "status": "completed",
                "usage": {"total_tokens": 42, "input_token_details": {}},
                "latency": {"first_played_ms": 65.4},
            },
        }
    )
    assert done.endswith("status=completed usage.total_tokens=42 latency.first_played_ms=65.4")
