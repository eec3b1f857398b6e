"""The session core without sockets or clocks: events in, events out."""

from __future__ import annotations

import json

from voiced.simulator import Script, Session


def test_a_response_steps_to_completion_without_io():
    script = Script.from_data({"turns": [{"response": {"text": "one two three", "audio": {"tone_s": 0.25}}}]})
    session = Session(script=script)
    assert [e["type"] for e in session.open()] == ["session.created"]
    received = session.receive(json.dumps({"type": "response.create"}))
    assert received.invalid is None
    assert received.replies[0]["type"] == "response.created"
    steps = []
    while (step := session.stream_step()) is not None:
        steps.append(step)
    assert [s.pace_s for s in steps] == [0.1, 0.1, 0.05]
    assert steps[-1].events[-1]["type"] == "response.done"
    transcript = "".join(
        e["delta"] for s in steps for e in s.events if e["type"] == "response.output_audio_transcript.delta"
    )
    assert transcript == "one two three"
    assert session.response is None
