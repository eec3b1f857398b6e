"""A tool in `confirm` runs only after the user's yes: through a daemon assembled in this
process with the test MCP server, and the yes/no reading on its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.voiced.mcp.harness import Running, call, running, script, stdio_server
from voiced.mcp.confirmation import Confirmations, is_yes

LIGHT_OFF = {"room": "kitchen", "on": False}


async def voicectl(r: Running, *args: str) -> subprocess.CompletedProcess[bytes]:
    socket = str(r.daemon.settings.socket_path)
    return await trio.run_process([sys.executable, "-m", "voicectl", "--socket", socket, *args],
                                  capture_stdout=True, capture_stderr=True, check=False)


def confirming(home: Path) -> str:
    return stdio_server(home / "ran.jsonl", extra='confirm = ["switch_light"]\n')


async def asked(r: Running) -> None:
    """The model calls switch_light; it is told to ask, and nothing runs."""
    await r.offering("switch_light")
    r.daemon.say("Switch off the kitchen light.")
    await r.answered(2)
    [output] = r.items("function_call_output")
    assert json.loads(output["output"])["status"] == "needs_confirmation"
    assert r.ran() == []
    [called] = r.published("tool.called")
    [result] = r.published("tool.result")
    assert (called["confirmation"], result["confirmation"]) == ("needed", "asked")
    assert r.daemon.tools.describe()["awaiting_confirmation"]["name"] == "switch_light"


async def ran_after_yes(r: Running, answers: int) -> None:
    """The confirmed call joined the conversation as the model's, ran once, and its output
    was followed by exactly one response.create."""
    await r.wait(lambda: len(r.items("function_call_output")) == 2, "the confirmed call's output")
    await r.answered(answers)
    assert r.ran() == [{"tool": "switch_light", "arguments": LIGHT_OFF}]
    [made] = r.items("function_call")
    assert (made["name"], json.loads(made["arguments"])) == ("switch_light", LIGHT_OFF)
    output = r.items("function_call_output")[1]
    assert (output["call_id"], output["output"]) == (made["call_id"], "the kitchen light is off")
    assert r.after("function_call_output").count("response.create") == 1
    called = [e for e in r.published("tool.called") if e["call_id"] == made["call_id"]]
    results = [e for e in r.published("tool.result") if e["call_id"] == made["call_id"]]
    assert [e["confirmation"] for e in called + results] == ["approved", "approved"]
    assert r.daemon.tools.describe()["awaiting_confirmation"] is None


def test_a_yes_runs_the_call_and_the_model_gets_its_result(home: Path) -> None:
    async def test() -> None:
        turns = script(call("switch_light", LIGHT_OFF, "Shall I?"), {"response": {"text": "Doing it."}})
        async with running(home, confirming(home), turns) as r:
            await asked(r)
            r.daemon.say("Yes please.")
            await ran_after_yes(r, 4)

    trio.run(test)


@pytest.mark.parametrize("answer", ["No, leave it on.", "What time is it?",
                                    "Please turn on the bedroom light instead"])
def test_anything_but_a_yes_cancels_the_call(home: Path, answer: str) -> None:
    async def test() -> None:
        turns = script(call("switch_light", LIGHT_OFF, "Shall I?"), {"response": {"text": "Fine."}})
        async with running(home, confirming(home), turns) as r:
            await asked(r)
            r.daemon.say(answer)
            await r.answered(3)
            declined = [e for e in r.published("tool.result") if e["confirmation"] == "declined"]
            assert [e["name"] for e in declined] == ["switch_light"]
            r.daemon.say("Yes.")  # too late: the call was cancelled
            await r.answered(4)
            assert r.ran() == []
            assert r.items("function_call") == []
            assert len(r.items("function_call_output")) == 1

    trio.run(test)


def test_no_answer_at_all_cancels_the_call(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("voiced.mcp.toolbox.ANSWER_WAIT_S", 0.5)

    async def test() -> None:
        async with running(home, confirming(home), script(call("switch_light", LIGHT_OFF, "Shall I?"))) as r:
            await asked(r)
            declined = await r.wait(lambda: [e for e in r.published("tool.result")
                                             if e["confirmation"] == "declined"], "the call to expire")
            assert json.loads(declined[0]["output"]) == {"error": "not run: no answer"}
            assert r.daemon.tools.describe()["awaiting_confirmation"] is None
            assert r.ran() == []

    trio.run(test)


def test_voicectl_approve_runs_the_call(home: Path) -> None:
    async def test() -> None:
        turns = script(call("switch_light", LIGHT_OFF, "Shall I?"))
        async with running(home, confirming(home), turns) as r:
            await asked(r)
            done = await voicectl(r, "approve")
            assert b"switch_light" in done.stdout
            await ran_after_yes(r, 3)
            nothing = await voicectl(r, "approve")
            assert nothing.returncode == 2
            assert b"no tool call is waiting for confirmation" in nothing.stderr

    trio.run(test)


def test_tools_lists_what_the_model_sees_with_its_source(home: Path) -> None:
    async def test() -> None:
        async with running(home, confirming(home)) as r:
            await r.offering("switch_light")
            done = await voicectl(r, "--json", "tools")
            assert done.returncode == 0
            listed = {tool["name"]: tool for tool in json.loads(done.stdout)["tools"]}
            assert set(r.offered()) == set(listed)
            assert listed["switch_light"] == {"name": "switch_light", "source": "mcp", "server": "test",
                                                   "tool": "switch_light", "status": "ready", "confirm": True}
            assert {tool["source"] for tool in listed.values()} == {"mcp", "plugin"}
            table = (await voicectl(r, "tools")).stdout.decode().splitlines()
            assert any(line.split() == ["switch_light", "mcp:test", "ready,", "needs", "a", "yes"]
                       for line in table), table
            assert any(line.split() == ["add", "mcp:test", "ready"] for line in table), table
            assert "server test: ready (7 tools, 0 failures)" in table

    trio.run(test)


@pytest.mark.parametrize(("text", "yes"), [
    ("Yes.", True), ("yeah, go ahead", True), ("Okay", True), ("Sure, do it!", True),
    ("No.", False), ("Yes... no, wait", False), ("don't", False), ("What time is it?", False),
    ("", False), ("not yet", False), ("Yes, but not the kitchen", False),
    ("Yes please.", True), ("Please do.", True), ("Go ahead", True), ("yes switch it off", True),
    ("Ok what time is it", False), ("Please turn on the bedroom light instead", False),
    ("I do that every day", False), ("Please.", False), ("please", False), ("Okay?", False),
    ("Yes, turn off the kitchen light", False), ("Sure, the bedroom instead", False),
    ("So I said yes", False), ("Yeah right, never", False),
])
def test_only_an_explicit_yes_is_a_yes(text: str, yes: bool) -> None:
    assert is_yes(text) is yes


def test_the_late_transcript_of_the_turn_that_asked_is_not_the_answer() -> None:
    confirmations = Confirmations()
    confirmations.ask("call_1", "switch_light", "{}")
    assert confirmations.user_said("yes switch it off", "item_asked", typed=False) is None
    confirmations.user_started("item_answer")
    assert confirmations.user_said("yes", "item_other", typed=False) is None
    answer = confirmations.user_said("yes", "item_answer", typed=False)
    assert answer is not None and answer[1] is True
    assert confirmations.pending is None
