"""The session core without sockets or clocks: events in, events out."""

from __future__ import annotations

import base64
import json

import numpy as np

from voiced.simulator import Script, Session
from voiced.simulator.input_buffer import InputBuffer
from voiced.simulator.vad import SpeechStarted, SpeechStopped


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


def test_a_late_transcript_is_handed_back_as_later_events():
    script = Script.from_data({"turns": [{"transcript": "later", "transcript_delay_s": 2.5}]})
    session = Session(script=script)
    session.receive(
        json.dumps(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"transcription": {"model": "whisper-1"}, "turn_detection": None}},
                },
            }
        )
    )
    audio = base64.b64encode(bytes(9600)).decode()
    session.receive(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
    received = session.receive(json.dumps({"type": "input_audio_buffer.commit"}))
    item_id = received.replies[0]["item_id"]
    assert not [e for e in received.replies if "transcription" in e["type"]]
    [later] = received.later
    assert later.delay_s == 2.5
    assert [(e["type"].rsplit(".", 1)[-1], e["item_id"]) for e in later.events] == [
        ("delta", item_id),
        ("completed", item_id),
    ]


def test_input_buffer_commits_what_speech_detection_dated():
    buffer = InputBuffer({"type": "server_vad", "prefix_padding_ms": 100, "silence_duration_ms": 200})
    loud = (np.full(4800, 8000, dtype="<i2")).tobytes()  # 200 ms
    events = buffer.append(bytes(24_000) + loud + bytes(9600))  # 500 ms quiet, 200 loud, 200 quiet
    assert events == [SpeechStarted(400), SpeechStopped(900)]
    assert buffer.start_ms == 400 and buffer.speech_item_id is not None
    assert len(buffer.take(900)) == 500 * 48
    assert (buffer.buffered_ms, buffer.speech_item_id) == (0, None)
    buffer.configure(None)
    assert not buffer.detecting and buffer.append(loud) == []
