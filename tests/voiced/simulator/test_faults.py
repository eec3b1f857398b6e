"""The session cap and injected faults, as a client sees them on a real WebSocket."""

from __future__ import annotations

import json
import re
import sys

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected

from voiced.simulator import Fault, Script, ScriptError, Simulator
from voiced.simulator import faults as faults_module
from voiced.simulator.faults import MALFORMED_BINARY, MALFORMED_TEXT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LONG_ANSWER = {"response": {"text": "a long story", "audio": {"tone_s": 4.0}}}


async def _closed(client) -> ConnectionClosed:
    """Receive until the connection ends; return how it ended."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await client.recv()
    return closed.value


async def _typed_turn(client) -> None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    await client.send("conversation.item.create", item=item)
    await client.send("response.create")


def test_session_cap_closes_with_1001_and_sends_nothing_more(realtime):
    script = Script.from_data({"turns": [LONG_ANSWER]})

    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("response.create")
            await client.until("response.output_audio.delta")
            start = trio.current_time()
            closed = await _closed(client)
            assert (closed.reason.code, closed.reason.reason) == (1001, "maximum duration")
            assert trio.current_time() - start < 1.0
            assert "response.done" not in [e["type"] for e in client.events]
        notes = [e.event for e in sim.events if e.dir == "sim" and e.event["type"] != "sim.ended"]
        assert notes == [{"type": "sim.closed", "code": 1001, "reason": "maximum duration"}]

    realtime.run(body, script=script, max_session_s=0.4, speed=2.0)


def test_drop_ends_the_connection_without_a_close_frame(realtime):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("response.create")
            closed = await _closed(client)
            assert closed.reason.code == 1006
            deltas = [e for e in client.events if e["type"] == "response.output_audio.delta"]
            assert len(deltas) == 3

    fault = Fault(action="drop", during_response=1, after_deltas=3)
    realtime.run(body, script=Script.from_data({"turns": [LONG_ANSWER]}), faults=[fault], speed=2.0)


@pytest.mark.parametrize("code", [1001, 1011, 1012, 1013])
def test_close_with_a_code(realtime, code):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await _typed_turn(client)
            closed = await _closed(client)
            assert (closed.reason.code, closed.reason.reason) == (code, "going away")
            assert client.events[-1]["type"] == "response.done"

    fault = Fault.parse(f"action=close,code={code},reason=going away,after_response=1")
    realtime.run(body, faults=[fault])


def test_error_events_recoverable_and_fatal(realtime):
    faults = [
        Fault(action="error", after_append=2),
        Fault(action="error", code="insufficient_quota", message="No money.", after_append=4),
    ]

    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.append(bytes(2 * 1920))  # two 40 ms appends
            error = (await client.until("error"))[-1]["error"]
            assert (error["type"], error["code"]) == ("server_error", "server_error")
            await client.append(bytes(2 * 1920))
            error = (await client.until("error"))[-1]["error"]
            assert (error["code"], error["message"]) == ("insufficient_quota", "No money.")
            closed = await _closed(client)
            assert closed.reason.code == 1008

    realtime.run(body, faults=faults)


@pytest.mark.parametrize("frame", ["text", "no_type", "binary"])
def test_malformed_frames(realtime, frame):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            message = await client.ws.get_message()
            if frame == "text":
                assert message == MALFORMED_TEXT
            elif frame == "binary":
                assert message == MALFORMED_BINARY
            else:
                assert "type" not in json.loads(message)
            await client.send("session.update", session={"type": "realtime"})
            assert (await client.recv())["type"] == "session.updated"

    realtime.run(body, faults=[Fault(action="malformed", frame=frame, at_s=0)])


def test_stall_sends_nothing_not_even_pongs(realtime):
    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            start = trio.current_time()
            await client.send("session.update", session={"type": "realtime"})
            with trio.move_on_after(0.3) as pinging:
                await client.ws.ping(b"are you there")
            assert pinging.cancelled_caught
            assert (await client.recv())["type"] == "session.updated"
            assert trio.current_time() - start >= 0.75
            with trio.fail_after(1):
                await client.ws.ping(b"now?")

    realtime.run(body, faults=[Fault(action="stall", seconds=0.8, at_s=0)])


def test_refused_handshakes_then_success(realtime):
    async def body(sim: Simulator, url: str) -> None:
        for _ in range(2):
            with pytest.raises(ConnectionRejected) as rejected:
                async with realtime.connect(url):
                    pass
            assert rejected.value.status_code == 503
        async with realtime.connect(url):
            pass
        sim.refuse_next(1)
        with pytest.raises(ConnectionRejected):
            async with realtime.connect(url):
                pass
        refusals = [e.event for e in sim.events if e.dir == "sim" and e.event["type"] != "sim.ended"]
        assert refusals == [{"type": "sim.refused", "status": 503}] * 3

    realtime.run(body, refuse_connections=2)


def test_faults_fire_once_or_in_every_session_and_items_are_kept_per_session(realtime):
    faults = [
        Fault(action="close", code=1012, after_response=1, every_session=True),
        Fault(action="error", at_s=0),
    ]

    async def body(sim: Simulator, url: str) -> None:
        texts = []
        for number in range(2):
            async with realtime.connect(url) as client:
                text = f"turn of session {number}"
                item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
                await client.send("conversation.item.create", item=item)
                await client.send("response.create")
                closed = await _closed(client)
                assert closed.reason.code == 1012
                errors = [e for e in client.events if e["type"] == "error"]
                assert len(errors) == (1 if number == 0 else 0)
                texts.append(text)
        assert len(sim.sessions) == 2
        for session, text in zip(sim.sessions, texts, strict=True):
            [item] = sim.items_created(session)
            assert item["content"][0]["text"] == text

    realtime.run(body, faults=faults)


def test_script_faults_table(tmp_path):
    path = tmp_path / "faults.toml"
    path.write_text(
        "[faults]\nmax_session_s = 30\nrefuse_connections = 1\n"
        'inject = [{ action = "drop", at_s = 2 }, { action = "close", code = 1013, after_response = 1 }]\n'
    )
    script = Script.load(path)
    assert script.faults.max_session_s == 30
    assert [f.action for f in script.faults.inject] == ["drop", "close"]
    assert script.faults.inject[1].close_code == 1013
    simulator = Simulator(script=script, max_session_s=5)
    assert simulator.faults.refusals_left == 1


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"inject": [{"action": "drop"}]}, "exactly one trigger"),
        ({"inject": [{"action": "drop", "at_s": 1, "after_append": 2}]}, "exactly one trigger"),
        ({"inject": [{"action": "close", "code": 999, "at_s": 1}]}, "999"),
        ({"inject": [{"action": "stall", "code": 1011, "at_s": 1}]}, "no code"),
        ({"inject": [{"action": "drop", "delta": "odd", "at_s": 1}]}, "drop fault takes no delta"),
        ({"inject": [{"action": "bad_delta", "arguments": "deep", "at_s": 1}]}, "takes no arguments"),
        ({"inject": [{"action": "bad_delta", "delta": "even", "at_s": 1}]}, "delta"),
        ({"inject": [{"action": "tool_call", "arguments": "nice", "at_s": 1}]}, "arguments"),
        ({"inject": [{"action": "tool_call", "size": 0, "at_s": 1}]}, "size"),
        ({"inject": [{"action": "tool_call", "size": 10**9, "at_s": 1}]}, "size"),
        ({"inject": [{"action": "drop", "at_s": 1, "every_nth_session": 0}]}, "every_nth_session"),
        (
            {"inject": [{"action": "drop", "at_s": 1, "every_session": True, "every_nth_session": 2}]},
            "exclude each other",
        ),
        ({"inject": [{"action": "explode", "at_s": 1}]}, "action"),
        ({"max_sesion_s": 3}, "max_sesion_s"),
    ],
)
def test_bad_faults_say_what_is_wrong(data, needle):
    with pytest.raises(ScriptError, match=needle):
        Script.from_data({"faults": data})


def test_faults_take_turns_across_sessions(realtime):
    """every_nth_session and first_session choose the sessions a fault watches."""
    faults = [
        Fault.parse("action=error,message=odd,at_s=0,every_nth_session=2"),
        Fault.parse("action=error,message=even,at_s=0,every_nth_session=2,first_session=2"),
        Fault.parse("action=error,message=third,at_s=0,first_session=3"),
    ]

    async def body(sim: Simulator, url: str) -> None:
        seen = []
        for _ in range(5):
            async with realtime.connect(url) as client:
                await client.send("session.update", session={"type": "realtime"})
                events = await client.until("session.updated")
                seen.append(sorted(e["error"]["message"] for e in events if e["type"] == "error"))
        assert seen == [["odd"], ["even"], ["odd", "third"], ["even"], ["odd"]]
        assert sim.faults.sessions == 5

    realtime.run(body, faults=faults)


def test_the_documented_script_example_is_a_valid_faults_table():
    """The [faults] example in the module docstring is one a script may use as it stands."""
    example = re.search(r"In a script::\n\n(.*?)\n\n", faults_module.__doc__ or "", re.S)
    assert example is not None
    script = Script.from_data(tomllib.loads(example.group(1)))
    assert [fault.action for fault in script.faults.inject][-2:] == ["bad_delta", "tool_call"]
    assert script.faults.inject[-1].every_nth_session == 2
