"""Turns and responses over a real WebSocket: VAD, echo, usage, cancel, truncate, manual turns."""

from __future__ import annotations

import base64
import json
import math

import numpy as np

from voiced.pcm import WIRE_RATE, pcm_bytes
from voiced.simulator import Script, Simulator
from voiced.simulator.session_config import DEFAULT_INSTRUCTIONS

BYTES_PER_MS = pcm_bytes(1)
TRANSCRIBE = {"type": "realtime", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}
MANUAL = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
LONG_ANSWER = Script.from_data({"turns": [{"response": {"text": "a long story", "audio": {"tone_s": 8.0}}}]})


def _audio_bytes(events: list[dict]) -> bytes:
    return b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )


def test_server_vad_turn_is_committed_transcribed_and_echoed(realtime, tmp_path):
    log_path = tmp_path / "events.jsonl"
    utterance = realtime.speech_like(before_s=0.5, speech_s=1.0, after_s=1.0)

    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("session.update", session=TRANSCRIBE)
            await client.until("session.updated")
            await client.append(utterance)
            events = await client.until("response.done")
        types = [e["type"] for e in events]
        started, stopped, committed = (
            events[types.index(name)]
            for name in (
                "input_audio_buffer.speech_started",
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
            )
        )
        # Tone from 500 ms to 1500 ms; 300 ms prefix padding; 500 ms of silence ends it.
        assert started["audio_start_ms"] == 200
        assert stopped["audio_end_ms"] == 2000
        item_id = started["item_id"]
        assert stopped["item_id"] == committed["item_id"] == item_id
        completed = events[types.index("conversation.item.input_audio_transcription.completed")]
        transcript = "(simulated transcript of 1.8 s of speech)"
        assert (completed["item_id"], completed["transcript"]) == (item_id, transcript)
        assert types.index("response.created") < types.index("rate_limits.updated")
        assert types.index("response.content_part.added") < types.index("response.output_audio.delta")
        assert types[-6:] == [
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
        ]
        echoed = _audio_bytes(events)
        assert echoed == utterance[200 * BYTES_PER_MS : 2000 * BYTES_PER_MS]
        spoken = "".join(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta")
        assert spoken == transcript
        response = events[-1]["response"]
        assert response["status"] == "completed"
        usage = response["usage"]
        text_in = math.ceil(len(DEFAULT_INSTRUCTIONS) / 4)
        assert usage["input_token_details"]["audio_tokens"] == 18  # 1800 ms / 100 ms
        assert usage["input_token_details"]["text_tokens"] == text_in
        assert usage["output_token_details"] == {
            "audio_tokens": 36,  # 1800 ms / 50 ms
            "text_tokens": math.ceil(len(transcript) / 4),
        }
        assert usage["input_tokens"] == 18 + text_in
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]

    realtime.run(body, event_log=log_path)
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    appended = b"".join(
        base64.b64decode(line["event"]["audio"])
        for line in lines
        if line["dir"] == "in" and line["event"]["type"] == "input_audio_buffer.append"
    )
    assert appended == utterance
    deltas = [
        line["event"]["delta"] for line in lines if line["event"]["type"] == "response.output_audio.delta"
    ]
    assert sum(deltas) == 1800 * BYTES_PER_MS


def test_cancel_stops_the_stream_and_truncate_checks_sent_audio(realtime):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send(
                "conversation.item.create",
                item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
            )
            await client.send("response.create")
            first = (await client.until("response.output_audio.delta"))[-1]
            await client.send("response.create", event_id="second")
            error = (await client.until("error"))[-1]["error"]
            assert (error["code"], error["event_id"]) == (
                "conversation_already_has_active_response",
                "second",
            )
            await client.send("response.cancel")
            done = (await client.until("response.done"))[-1]["response"]
            assert done["status"] == "cancelled"
            assert done["status_details"]["reason"] == "client_cancelled"
            late = await client.quiet_for(0.3)
            assert not [e for e in late if e["type"].startswith("response.")]
            sent_ms = len(_audio_bytes(client.events)) // BYTES_PER_MS
            assert 0 < sent_ms < 8000
            assert done["usage"]["output_token_details"]["audio_tokens"] == math.ceil(sent_ms / 50)

            await client.send(
                "conversation.item.truncate",
                item_id=first["item_id"],
                content_index=0,
                audio_end_ms=sent_ms + 100,
            )
            error = (await client.recv())["error"]
            assert (error["code"], error["param"]) == ("invalid_value", "audio_end_ms")
            await client.send(
                "conversation.item.truncate",
                item_id=first["item_id"],
                content_index=0,
                audio_end_ms=sent_ms // 2,
            )
            truncated = await client.recv()
            assert truncated["type"] == "conversation.item.truncated"
            assert truncated["audio_end_ms"] == sent_ms // 2
            await client.send("response.cancel", event_id="nothing")
            error = (await client.recv())["error"]
            assert (error["code"], error["event_id"]) == ("response_cancel_not_active", "nothing")

    realtime.run(body, script=LONG_ANSWER, speed=4.0)


def test_speech_during_a_response_interrupts_it(realtime):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("response.create")
            await client.until("response.output_audio.delta")
            await client.append(realtime.speech_like(before_s=0.1, speech_s=0.3, after_s=0.0))
            events = await client.until("response.done")
            types = [e["type"] for e in events]
            assert types.index("input_audio_buffer.speech_started") < types.index("response.done")
            assert events[-1]["response"]["status"] == "cancelled"
            assert events[-1]["response"]["status_details"]["reason"] == "turn_detected"

    realtime.run(body, script=LONG_ANSWER, speed=4.0)


def test_manual_turns_commit_and_respond_only_when_asked(realtime):
    half_second = realtime.pcm(0.25 * np.sin(2 * np.pi * 300 * np.arange(WIRE_RATE // 2) / WIRE_RATE))

    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("session.update", session=MANUAL)
            await client.until("session.updated")
            await client.send("input_audio_buffer.commit", event_id="empty")
            error = (await client.recv())["error"]
            assert (error["code"], error["event_id"]) == ("input_audio_buffer_commit_empty", "empty")
            await client.append(half_second)
            await client.send("input_audio_buffer.clear")
            assert (await client.recv())["type"] == "input_audio_buffer.cleared"
            await client.append(half_second)
            await client.send("input_audio_buffer.commit")
            events = await client.until("conversation.item.done")
            assert [e["type"] for e in events] == [
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
            ]
            assert await client.quiet_for(0.2) == []  # no VAD, no automatic response
            await client.send("response.create")
            events = await client.until("response.done")
            assert _audio_bytes(events) == half_second

    realtime.run(body)


def test_text_modality_streams_text_instead_of_audio(realtime):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("session.update", session={"type": "realtime", "output_modalities": ["text"]})
            await client.until("session.updated")
            await client.send(
                "conversation.item.create",
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hello there"}],
                },
            )
            await client.send("response.create")
            events = await client.until("response.done")
            types = {e["type"] for e in events}
            assert "response.output_audio.delta" not in types
            text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
            done = next(e for e in events if e["type"] == "response.output_text.done")
            assert text == done["text"] == "hello there"
            usage = events[-1]["response"]["usage"]
            assert usage["output_token_details"] == {"text_tokens": 3, "audio_tokens": 0}

    realtime.run(body)


def test_typed_turn_gets_a_tone_as_long_as_its_text(realtime):
    text = "a typed question of some length"

    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send(
                "conversation.item.create",
                item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
            )
            await client.send("response.create")
            events = await client.until("response.done")
            ms = len(_audio_bytes(events)) // BYTES_PER_MS
            assert ms == round(len(text) * 0.065 * 1000)

    realtime.run(body)
