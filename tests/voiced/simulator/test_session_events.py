"""The session over a real WebSocket: handshake, configuration, validation, items."""

from __future__ import annotations

import json

import pytest
import trio
from trio_websocket import ConnectionClosed

from voiced.simulator import Simulator

BETA_SESSION_UPDATE = {
    "type": "session.update",
    "session": {"modalities": ["audio"], "voice": "alloy", "input_audio_format": "pcm16"},
}


def test_session_created_comes_first_with_the_ga_shape(realtime):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url, session_created=False) as client:
            first = await client.recv()
        assert first["type"] == "session.created"
        session = first["session"]
        assert session["type"] == "realtime"
        assert session["model"] == "gpt-realtime"
        assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
        assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
        assert session["audio"]["output"]["voice"]

    realtime.run(body)


def test_session_update_merges_only_named_fields(realtime):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send(
                "session.update",
                session={
                    "type": "realtime",
                    "instructions": "Be brief.",
                    "audio": {
                        "input": {
                            "transcription": {"model": "gpt-4o-transcribe"},
                            "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
                        }
                    },
                },
            )
            session = (await client.until("session.updated"))[-1]["session"]
            detection = session["audio"]["input"]["turn_detection"]
            assert session["instructions"] == "Be brief."
            assert session["audio"]["input"]["transcription"] == {"model": "gpt-4o-transcribe"}
            assert detection["silence_duration_ms"] == 300
            assert detection["threshold"] == 0.5  # kept
            assert session["audio"]["output"]["voice"] == "marin"  # untouched

            await client.send(
                "session.update",
                session={
                    "type": "realtime",
                    "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}},
                },
            )
            detection = (await client.until("session.updated"))[-1]["session"]["audio"]["input"][
                "turn_detection"
            ]
            assert detection["type"] == "semantic_vad"
            assert "threshold" not in detection  # another kind replaces, not merges

            await client.send(
                "session.update", session={"type": "realtime", "audio": {"input": {"turn_detection": None}}}
            )
            session = (await client.until("session.updated"))[-1]["session"]
            assert session["audio"]["input"]["turn_detection"] is None
            assert session["instructions"] == "Be brief."

    realtime.run(body)


def test_beta_header_is_refused_with_4000(realtime):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(
            url, headers=[(b"OpenAI-Beta", b"realtime=v1")], session_created=False
        ) as client:
            error = await client.recv()
            assert error["error"]["code"] == "beta_api_shape_disabled"
            with pytest.raises(ConnectionClosed) as closed:
                await client.recv()
            assert closed.value.reason.code == 4000

    realtime.run(body)


def test_wrong_api_key_is_refused_and_closed(realtime):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url, token="sk-wrong", session_created=False) as client:
            assert (await client.recv())["error"]["code"] == "invalid_api_key"
            with pytest.raises(ConnectionClosed):
                await client.recv()
        async with realtime.connect(url, token="sk-right") as client:
            pass  # session.created arrived

    realtime.run(body, api_key="sk-right")


def test_invalid_events_get_errors_and_the_session_goes_on(realtime, tmp_path):
    log_path = tmp_path / "events.jsonl"
    bad = [
        ("not json", None, "invalid_json"),
        (json.dumps({"type": "heartbeat", "event_id": "e1"}), "e1", "invalid_value"),
        (
            json.dumps({"type": "conversation.item.delete", "event_id": "e2"}),
            "e2",
            "missing_required_parameter",
        ),
        (
            json.dumps({"type": "input_audio_buffer.append", "audio": "%%%", "event_id": "e3"}),
            "e3",
            "invalid_value",
        ),
        (json.dumps({"type": "output_audio_buffer.clear", "event_id": "e4"}), "e4", "invalid_value"),
        (json.dumps({**BETA_SESSION_UPDATE, "event_id": "e5"}), "e5", "missing_required_parameter"),
    ]

    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            for message, event_id, code in bad:
                await client.send_raw(message)
                error = (await client.until("error"))[-1]["error"]
                assert (error["code"], error["event_id"]) == (code, event_id)
                assert error["type"] == "invalid_request_error"
            await client.send("session.update", session={"type": "realtime", "instructions": "still here"})
            assert (await client.until("session.updated"))[-1]["session"]["instructions"] == "still here"

    realtime.run(body, event_log=log_path)
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    inbound = [line for line in lines if line["dir"] == "in"]
    assert inbound[0]["event"] == "not json" and inbound[0]["invalid"]
    assert all(line["invalid"] for line in inbound[:-1])
    assert inbound[-1]["invalid"] is None
    assert lines[0]["dir"] == "out" and lines[0]["event"]["type"] == "session.created"


def test_strict_mode_rejects_beta_shapes_and_accepts_ga(realtime):
    ga_update = {
        "type": "realtime",
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "noise_reduction": {"type": "near_field"},
                "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                "turn_detection": {"type": "server_vad", "threshold": 0.5, "create_response": True},
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"},
        },
        "tools": [{"type": "function", "name": "lights", "description": "d", "parameters": {}}],
        "tool_choice": "auto",
    }

    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send_raw(json.dumps({**BETA_SESSION_UPDATE, "event_id": "beta"}))
            error = (await client.until("error"))[-1]["error"]
            assert error["event_id"] == "beta"
            typed_beta = {"type": "realtime", "modalities": ["text"]}
            await client.send("session.update", session=typed_beta, event_id="beta2")
            error = (await client.until("error"))[-1]["error"]
            assert (error["code"], error["param"]) == ("unknown_parameter", "session.modalities")
            # Nested unknown keys: only the openai types know these are wrong.
            await client.send("response.create", response={"modalities": ["text"]}, event_id="beta3")
            error = (await client.until("error"))[-1]["error"]
            assert (error["code"], error["param"]) == ("unknown_parameter", "response.modalities")
            await client.send("session.update", session=ga_update, event_id="ga")
            updated = (await client.until("session.updated"))[-1]
            assert updated["session"]["tools"][0]["name"] == "lights"

    realtime.run(body, strict=True)


def test_items_create_delete_and_unknown_ids(realtime):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
            await client.send("conversation.item.create", item={**item, "id": "item_a"})
            events = await client.until("conversation.item.done")
            assert [e["type"] for e in events] == ["conversation.item.added", "conversation.item.done"]
            await client.send("conversation.item.create", item=item, previous_item_id="item_a")
            second = (await client.until("conversation.item.done"))[-1]
            assert second["previous_item_id"] == "item_a"
            await client.send("conversation.item.delete", item_id="item_a")
            assert (await client.recv())["type"] == "conversation.item.deleted"
            await client.send("conversation.item.delete", item_id="item_a", event_id="again")
            error = (await client.recv())["error"]
            assert (error["code"], error["event_id"]) == ("item_delete_invalid_item_id", "again")
            await client.send(
                "conversation.item.truncate", item_id=second["item"]["id"], content_index=0, audio_end_ms=0
            )
            assert (await client.recv())["error"]["code"] == "item_truncate_invalid_item_id"

    realtime.run(body)


def test_a_client_that_disconnects_mid_response_does_not_hurt_the_server(realtime):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("response.create")
            await client.until("response.output_audio.delta")
        await trio.sleep(0.1)
        async with realtime.connect(url) as client:
            await client.send("response.create")
            assert (await client.until("response.done"))[-1]["response"]["status"] == "completed"

    realtime.run(body, speed=2.0)
