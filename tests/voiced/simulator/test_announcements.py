"""The simulator says the text a response's instructions quote, as a model told to would."""

from __future__ import annotations

import json

from voiced.realtime.protocol import announcement_instructions
from voiced.simulator import Script, Session
from voiced.simulator.answers import quoted_text


def transcript_of_next_response(session: Session, event: dict) -> str:
    received = session.receive(json.dumps(event))
    assert received.invalid is None
    events = list(received.replies)
    while (step := session.stream_step()) is not None:
        events += step.events
    return "".join(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta")


def test_quoted_text_reads_only_the_announcement_shape() -> None:
    assert quoted_text(announcement_instructions("Two\nlines.")) == "Two\nlines."
    assert quoted_text("Be brief.") is None
    assert quoted_text(None) is None
    assert quoted_text({"text": "<<<\nx\n>>>"}) is None


def test_an_instructed_response_says_the_quoted_text_and_leaves_the_script_alone() -> None:
    session = Session(script=Script.from_data({"turns": [{"response": {"text": "scripted answer"}}]}))
    session.open()
    instructions = announcement_instructions("Dinner is ready.")
    said = transcript_of_next_response(session, {"type": "response.create",
                                                 "response": {"instructions": instructions}})
    assert said == "Dinner is ready."
    assert transcript_of_next_response(session, {"type": "response.create"}) == "scripted answer"
