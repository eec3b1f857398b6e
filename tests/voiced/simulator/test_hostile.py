"""The bad_delta and tool_call faults, as a client sees them on a real WebSocket.

Every event the test client receives is checked against the GA server schema (see
conftest.py): a hostile event is still a well-formed one, with bad content.
"""

from __future__ import annotations

import base64
import binascii
import json

import pytest

from voiced.simulator import Fault, Script, Simulator
from voiced.simulator.answers import SPOKEN_OUTPUT_CHARS
from voiced.simulator.audio import tone
from voiced.simulator.function_calls import MAX_ARGUMENT_DELTAS
from voiced.simulator.hostile import BAD_BASE64, UNDECLARED_TOOL, hostile_arguments

ONE_SECOND = Script.from_data({"turns": [{"response": {"text": "a tone", "audio": {"tone_s": 1.0}}}]})
CLOCK = {
    "type": "function",
    "name": "clock_now",
    "description": "The time now.",
    "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}},
}


def _typed(text: str) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def _audio_deltas(events: list[dict]) -> list[str]:
    return [e["delta"] for e in events if e["type"] == "response.output_audio.delta"]


def _answer_with_audio(realtime, fault: Fault, check) -> None:
    """One typed turn answered by a 1 s tone while `fault` fires; `check` gets the deltas."""

    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("conversation.item.create", item=_typed("hi"))
            await client.send("response.create")
            events = await client.until("response.done")
            assert events[-1]["response"]["status"] == "completed"
            check(_audio_deltas(events))
        assert [e.event["action"] for e in sim.events if e.type == "sim.fault"] == ["bad_delta"]

    realtime.run(body, script=ONE_SECOND, faults=[fault])


def test_odd_delta_splits_one_delta_into_two_odd_ones_and_keeps_the_audio_whole(realtime):
    """Guards the soak's odd-length delta ([S]12): odd deltas, yet a whole stream to carry the byte across."""
    def check(deltas: list[str]) -> None:
        sizes = [len(base64.b64decode(delta, validate=True)) for delta in deltas]
        assert sizes[:4] == [4800, 4800, 2401, 2399]
        assert [size for size in sizes if size % 2] == [2401, 2399]
        assert b"".join(base64.b64decode(delta) for delta in deltas) == tone(1.0)

    _answer_with_audio(realtime, Fault.parse("action=bad_delta,during_response=1,after_deltas=2"), check)


def test_base64_delta_goes_before_the_next_delta_and_no_decoder_takes_it(realtime):
    """Guards the soak's bad base64 ([S]12): strict and lenient decoders both refuse it; no audio is lost."""
    def check(deltas: list[str]) -> None:
        assert deltas[2] == BAD_BASE64
        for validate in (True, False):
            with pytest.raises(binascii.Error):
                base64.b64decode(deltas[2], validate=validate)
        good = deltas[:2] + deltas[3:]
        assert b"".join(base64.b64decode(delta, validate=True) for delta in good) == tone(1.0)

    fault = Fault.parse("action=bad_delta,delta=base64,during_response=1,after_deltas=2")
    _answer_with_audio(realtime, fault, check)


async def _call_after_first_answer(client, tools: list[dict]) -> tuple[dict, list[dict]]:
    """Declare `tools`, have one typed turn; return the unasked call and its response's events."""
    await client.send("session.update", session={"type": "realtime", "tools": tools})
    await client.until("session.updated")
    await client.send("conversation.item.create", item=_typed("hi"))
    await client.send("response.create")
    first = await client.until("response.done")
    assert first[-1]["response"]["output"][0]["type"] == "message"
    events = await client.until("response.done")
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert "".join(deltas) == done["arguments"]
    assert len(deltas) <= MAX_ARGUMENT_DELTAS
    assert events[-1]["response"]["status"] == "completed"
    return done, events


def test_deep_arguments_are_answered_like_any_call(realtime):
    """Guards the soak's hostile call ([S]1): 5000 deep stops json.loads; the output is answered."""
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            done, _ = await _call_after_first_answer(client, [CLOCK])
            assert done["name"] == "clock_now"
            assert done["arguments"] == '{"timezone":' + "[" * 5000 + "]" * 5000 + "}"
            with pytest.raises(RecursionError):
                json.loads(done["arguments"])
            output = {"type": "function_call_output", "call_id": done["call_id"], "output": "refused"}
            await client.send("conversation.item.create", item=output)
            await client.send("response.create")
            answer = await client.until("response.done")
            transcript = next(e for e in answer if e["type"] == "response.output_audio_transcript.done")
            assert transcript["transcript"] == "The tool said: refused"

    realtime.run(body, faults=[Fault.parse("action=tool_call,after_response=1")])


def test_huge_arguments_are_valid_json_in_a_few_deltas(realtime):
    """A huge argument streams in a bounded number of deltas, so a soak does not wait minutes for it."""
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            done, _ = await _call_after_first_answer(client, [CLOCK])
            assert json.loads(done["arguments"]) == {"timezone": "x" * 200_000}

    realtime.run(body, faults=[Fault.parse("action=tool_call,arguments=huge,size=200000,after_response=1")])


@pytest.mark.parametrize(
    ("tools", "spec", "name"),
    [
        ([], "", UNDECLARED_TOOL),
        ([CLOCK, {**CLOCK, "name": "other"}], ",name=other", "other"),
    ],
)
def test_invalid_arguments_name_the_declared_or_the_given_function(realtime, tools, spec, name):
    """Invalid JSON goes to the first declared function, the one named, or one that does not exist."""
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            done, _ = await _call_after_first_answer(client, tools)
            assert done["name"] == name
            with pytest.raises(json.JSONDecodeError):
                json.loads(done["arguments"])

    realtime.run(body, faults=[Fault.parse(f"action=tool_call,arguments=invalid{spec},after_response=1")])


def test_a_call_due_during_a_response_starts_when_it_ends(realtime):
    """One response at a time, as the service: a call due mid-answer waits for its response.done."""
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("session.update", session={"type": "realtime", "tools": [CLOCK]})
            await client.until("session.updated")
            await client.send("conversation.item.create", item=_typed("hi"))
            await client.send("response.create")
            events = await client.until("response.function_call_arguments.done")
            kinds = [e["type"] for e in events]
            first_done = kinds.index("response.done")
            assert "response.output_audio.delta" in kinds[:first_done]
            assert kinds[first_done + 1] == "response.created"
            assert events[first_done + 1]["response"]["id"] != events[first_done]["response"]["id"]

    fault = Fault.parse("action=tool_call,arguments=invalid,during_response=1,after_deltas=1")
    realtime.run(body, script=ONE_SECOND, faults=[fault])


def test_hostile_arguments_are_built_as_text():
    """Any depth can be sent: the simulator never builds (or parses) the nested structure itself."""
    deep = hostile_arguments(Fault.parse("action=tool_call,depth=100000,at_s=0"), "tz")
    assert deep.count("[") == deep.count("]") == 100_000
    huge = hostile_arguments(Fault.parse("action=tool_call,arguments=huge,size=7,at_s=0"), "tz")
    assert json.loads(huge) == {"tz": "xxxxxxx"}


def test_a_long_tool_output_is_summed_up_not_read_out(realtime):
    """A hostile call's echo (a 1 MB error) must not become a 1 MB answer replayed in every session."""

    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            done, _ = await _call_after_first_answer(client, [CLOCK])
            output = {"type": "function_call_output", "call_id": done["call_id"], "output": "y" * 50_000}
            await client.send("conversation.item.create", item=output)
            await client.send("response.create")
            answer = await client.until("response.done")
            transcript = next(e for e in answer if e["type"] == "response.output_audio_transcript.done")
            assert transcript["transcript"] == "The tool said: " + "y" * SPOKEN_OUTPUT_CHARS + "..."

    realtime.run(body, faults=[Fault.parse("action=tool_call,arguments=huge,size=100,after_response=1")])
