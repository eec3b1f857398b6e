"""Tool calls through a daemon assembled in this process: whatever the model sends as a
tool's arguments, the daemon answers with an output and keeps running."""

from __future__ import annotations

import json
from pathlib import Path

import trio

from tests.voiced.daemon.test_reload import home, run, running  # noqa: F401  (home: a fixture)
from voiced.bus import Bus, Event
from voiced.conversation import CallTool
from voiced.daemon.current import CurrentConversation
from voiced.daemon.effects import Effects
from voiced.daemon.outbox import Counters, Outbox
from voiced.simulator import Script, Simulator

DEPTH = 5000


def test_arguments_nested_too_deep_get_an_error_output_and_the_daemon_goes_on(home: Path) -> None:  # noqa: F811
    """Guards [S]1: arguments nested 5000 deep made `json.loads` raise RecursionError in the
    tool call, which ran unguarded in the daemon's nursery and ended voiced."""
    hostile = '{"timezone":' + "[" * DEPTH + "]" * DEPTH + "}"
    script = Script.from_data({"turns": [
        {"response": {"function_call": {"name": "clock_now", "arguments": hostile}}},
        {"response": {"text": "Still here."}},
    ]})

    async def test() -> None:
        async with running(home, '[assistant]\noutput_modalities = ["text"]\n',
                           Simulator(script=script, speed=50.0)) as r:
            await r.reach("listening", "the first session")
            r.daemon.say("What time is it?")
            outputs = await r.wait(lambda: [e["item"] for e in r.received("conversation.item.create")
                                            if e["item"].get("type") == "function_call_output"],
                                   "the tool's output")
            assert "error" in json.loads(outputs[0]["output"])
            await r.wait(lambda: r.daemon.current.turns.finished, "the answer after the tool")
            await r.reach("listening", "the turn's end")
            r.daemon.say("Are you there?")
            await r.wait(lambda: len(r.received("response.create")) >= 3, "the next turn")

    run(test)


def test_a_tool_caller_that_raises_still_answers_the_model() -> None:
    """Guards [S]1: the tool's task runs in the daemon's top nursery, so an exception out of
    the tool caller ended voiced; it becomes an error output instead."""
    bus, published = Bus(), list[Event]()
    bus.listen(published.append)

    async def broken(call: CallTool) -> str:
        raise RecursionError("maximum recursion depth exceeded")

    async def main() -> None:
        outbox = Outbox(Counters())
        async with trio.open_nursery() as nursery:
            effects = Effects(CurrentConversation.begin({"type": "realtime"}), outbox=outbox,
                              speaker=lambda: None, publish=bus.publish,
                              stamp=lambda type_, data: data, call_tool=broken, nursery=nursery)
            effects.session_opened([])
            effects.server_event({"type": "session.created", "session": {"id": "sess_1"}})
            effects.server_event({"type": "response.function_call_arguments.done", "response_id": "resp_1",
                                  "call_id": "call_1", "name": "clock_now", "arguments": "{}"})
        sent = []
        while True:
            try:
                sent.append(outbox.receive.receive_nowait().event)
            except trio.WouldBlock:
                break
        [item] = [e["item"] for e in sent if e["type"] == "conversation.item.create"]
        assert (item["type"], item["call_id"]) == ("function_call_output", "call_1")
        assert "error" in json.loads(item["output"])

    trio.run(main)
    [result] = [event.data for event in published if event.type == "tool.result"]
    assert "error" in json.loads(result["output"])
