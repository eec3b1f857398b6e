"""Function calls from the script: offered only for declared tools, answered after the output."""

from __future__ import annotations

import json

from voiced.simulator import Script, Simulator

CLOCK = {
    "type": "function",
    "name": "clock_now",
    "description": "The time now.",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
}
CALL_SCRIPT = Script.from_data(
    {
        "turns": [
            {
                "transcript": "what time is it",
                "response": {"function_call": {"name": "clock_now", "arguments": {"tz": "Europe/London"}}},
            },
            {"response": {"text": "next turn"}},
        ]
    }
)


def _typed(text: str) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def test_function_call_round_trip(realtime):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("session.update", session={"type": "realtime", "tools": [CLOCK]})
            await client.until("session.updated")
            await client.send("conversation.item.create", item=_typed("what time is it?"))
            await client.send("response.create")
            events = await client.until("response.done")
            types = [e["type"] for e in events]
            assert "response.content_part.added" not in types
            assert "response.output_audio.delta" not in types
            added = next(e for e in events if e["type"] == "response.output_item.added")["item"]
            assert added["type"] == "function_call"
            assert (added["name"], added["status"]) == ("clock_now", "in_progress")
            call_id = added["call_id"]
            deltas = [e for e in events if e["type"] == "response.function_call_arguments.delta"]
            done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
            assert "".join(e["delta"] for e in deltas) == done["arguments"]
            assert json.loads(done["arguments"]) == {"tz": "Europe/London"}
            assert {e["call_id"] for e in [*deltas, done]} == {call_id}
            assert done["name"] == "clock_now"
            assert types[-4:] == [
                "response.function_call_arguments.done",
                "response.output_item.done",
                "conversation.item.done",
                "response.done",
            ]
            response = events[-1]["response"]
            assert response["status"] == "completed"
            [output] = response["output"]
            assert (output["type"], output["call_id"]) == ("function_call", call_id)
            assert output["status"] == "completed"
            assert json.loads(output["arguments"]) == {"tz": "Europe/London"}

            await client.send(
                "conversation.item.create",
                item={"type": "function_call_output", "call_id": call_id, "output": "12:00 BST"},
            )
            await client.until("conversation.item.done")
            await client.send("response.create")
            events = await client.until("response.done")
            transcript = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
            assert transcript["transcript"] == "The tool said: 12:00 BST"
            assert events[-1]["response"]["output"][0]["type"] == "message"

            await client.send("conversation.item.create", item=_typed("and then?"))
            await client.send("response.create")
            events = await client.until("response.done")
            transcript = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
            assert transcript["transcript"] == "next turn"
        [session] = sim.sessions
        outputs = [item for item in sim.items_created(session) if item["type"] == "function_call_output"]
        assert outputs == [{"type": "function_call_output", "call_id": call_id, "output": "12:00 BST"}]

    realtime.run(body, script=CALL_SCRIPT, strict=True)


def test_a_spoken_turn_gets_the_call_and_the_scripted_answer_after_it(realtime):
    script = Script.from_data(
        {"turns": [{"response": {"function_call": {"name": "clock_now"}, "text": "It is noon."}}]}
    )

    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("session.update", session={"type": "realtime", "tools": [CLOCK]})
            await client.until("session.updated")
            await client.append(realtime.speech_like())
            events = await client.until("response.done")
            [call] = events[-1]["response"]["output"]
            assert (call["type"], call["arguments"]) == ("function_call", "{}")
            await client.send(
                "conversation.item.create",
                item={"type": "function_call_output", "call_id": call["call_id"], "output": "12:00"},
            )
            await client.send("response.create")
            events = await client.until("response.done")
            transcript = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
            assert transcript["transcript"] == "It is noon."

    realtime.run(body, script=script, strict=True)


def test_a_call_for_an_undeclared_tool_is_not_offered(realtime):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("session.update", session={"type": "realtime", "output_modalities": ["text"]})
            await client.until("session.updated")
            await client.send("conversation.item.create", item=_typed("what time is it?"))
            await client.send("response.create")
            events = await client.until("response.done")
            assert not [e for e in events if e["type"].startswith("response.function_call")]
            [message] = events[-1]["response"]["output"]
            assert message["type"] == "message"
            text = next(e for e in events if e["type"] == "response.output_text.done")["text"]
            assert "clock_now" in text and "no such tool" in text

    realtime.run(body, script=CALL_SCRIPT, strict=True)
