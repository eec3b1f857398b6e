"""MCP tools through a daemon assembled in this process: the test server (tool_server.py,
written with the SDK) runs as a real stdio subprocess, the simulator plays the model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import trio

from tests.support import forking
from tests.voiced.mcp.harness import TOOL_SERVER, call, running, script, stdio_server
from voiced.mcp.results import MAX_OUTPUT_CHARS


def test_an_mcp_tool_answers_the_model_and_one_response_follows(home: Path) -> None:
    async def test() -> None:
        async with running(home, stdio_server(home / "ran.jsonl"),
                           script(call("add", {"a": 2, "b": 3}, "Five."))) as r:
            await r.offering("add", "slow", "broken", "switch_light")
            r.daemon.say("What is two and three?")
            await r.answered(2)
            [output] = r.items("function_call_output")
            assert output["output"] == "5"
            assert r.after("function_call_output").count("response.create") == 1
            assert r.ran() == [{"tool": "add", "arguments": {"a": 2, "b": 3}}]
            [called] = r.published("tool.called")
            [result] = r.published("tool.result")
            for event in (called, result):
                assert (event["source"], event["server"], event["confirmation"]) == ("mcp", "test", "none")

    trio.run(test)


def test_a_failing_tool_gives_the_model_its_error(home: Path) -> None:
    async def test() -> None:
        async with running(home, stdio_server(home / "ran.jsonl"), script(call("broken", {}))) as r:
            await r.offering("broken")
            r.daemon.say("Break it.")
            await r.answered(2)
            [output] = r.items("function_call_output")
            assert "the light bulb exploded" in json.loads(output["output"])["error"]
            assert r.after("function_call_output").count("response.create") == 1

    trio.run(test)


def test_a_call_that_overruns_its_timeout_is_an_error_and_the_conversation_goes_on(home: Path) -> None:
    async def test() -> None:
        toml = stdio_server(home / "ran.jsonl", extra="call_timeout_s = 1\n")
        turns = script(call("slow", {"seconds": 3600}), {"response": {"text": "Hi."}})
        async with running(home, toml, turns) as r:
            await r.offering("slow")
            r.daemon.say("Take your time.")
            await r.answered(2)
            [output] = r.items("function_call_output")
            assert "did not answer within 1 s" in json.loads(output["output"])["error"]
            assert r.after("function_call_output").count("response.create") == 1
            r.daemon.say("Still there?")
            await r.answered(3)
            [failure] = [f for f in r.published("plugin.failed") if f["plugin"] == "mcp:test"]
            assert "slow" in failure["error"]

    trio.run(test)


def test_a_long_result_is_cut_before_it_reaches_the_model(home: Path) -> None:
    async def test() -> None:
        async with running(home, stdio_server(home / "ran.jsonl"), script(call("huge", {}))) as r:
            await r.offering("huge")
            r.daemon.say("Tell me everything.")
            await r.answered(2)
            [output] = r.items("function_call_output")
            assert len(output["output"]) <= MAX_OUTPUT_CHARS
            assert output["output"].startswith("xxx") and "cut: " in output["output"]

    trio.run(test)


def test_a_hanging_server_stalls_nothing_and_a_dead_one_is_reported(home: Path) -> None:
    hangs = '[mcp.servers.hangs]\ncommand = ["sleep", "3600"]\n'
    dies = '[mcp.servers.dies]\ncommand = ["false"]\n'
    async def test() -> None:
        async with running(home, hangs + dies + stdio_server(home / "ran.jsonl"),
                           script(call("add", {"a": 1, "b": 1}), {"response": {"text": "Hello."}})) as r:
            await r.offering("add")
            r.daemon.say("One and one?")
            await r.answered(2)
            assert r.items("function_call_output")[0]["output"] == "2"
            await r.wait(lambda: [f for f in r.published("plugin.failed") if f["plugin"] == "mcp:dies"],
                         "the dead server's report")
            servers = {s["name"]: s for s in r.daemon.tools.describe()["servers"]}
            assert servers["hangs"]["state"] == "starting"
            assert servers["dies"]["state"] in ("failed", "starting")  # failed, then trying again
            assert servers["dies"]["failures"] >= 1
            assert servers["test"]["state"] == "ready"

    trio.run(test)


def test_a_server_that_crashes_is_restarted_and_its_tools_work_again(home: Path) -> None:
    async def test() -> None:
        turns = script(call("crash", {}), call("add", {"a": 3, "b": 4}))
        async with running(home, stdio_server(home / "ran.jsonl"), turns) as r:
            await r.offering("crash", "add")
            r.daemon.say("Crash.")
            await r.answered(2)
            assert "error" in json.loads(r.items("function_call_output")[0]["output"])
            await r.wait(lambda: [f for f in r.published("plugin.failed") if f["plugin"] == "mcp:test"],
                         "the crash reported")
            server = r.daemon.tools.servers["test"]
            # the failed call is reported at once; the server's own failure (and restart) after
            await r.wait(lambda: server.status.failures and server.status.state == "ready",
                         "the server restarted")
            assert server.status.failures == 1
            r.daemon.say("Three and four?")
            await r.answered(4)
            assert r.items("function_call_output")[1]["output"] == "7"
            assert [entry["tool"] for entry in r.ran()] == ["crash", "add"]

    trio.run(test)


def test_a_tool_list_that_changes_updates_the_session(home: Path) -> None:
    async def test() -> None:
        async with running(home, stdio_server(home / "ran.jsonl"), script(call("grow", {}))) as r:
            await r.offering("grow")
            assert "extra" not in r.offered()
            r.daemon.say("Grow.")
            await r.offering("extra")

    trio.run(test)


def test_two_servers_with_the_same_tools_offer_them_under_their_names(home: Path) -> None:
    async def test() -> None:
        toml = (stdio_server(home / "ran.jsonl", "one", extra='tools = ["add", "slow"]\n')
                + stdio_server(home / "ran.jsonl", "two", extra='tools = ["add"]\n'))
        async with running(home, toml, script(call("two__add", {"a": 4, "b": 5}))) as r:
            await r.offering("one__add", "two__add", "slow")
            assert "broken" not in r.offered()
            r.daemon.say("Four and five?")
            await r.answered(2)
            assert r.items("function_call_output")[0]["output"] == "9"
            tools = r.daemon.tools.describe()["tools"]
            assert [t["server"] for t in tools if t["name"] == "two__add"] == ["two"]

    trio.run(test)


def test_arguments_the_tool_refuses_give_an_error_and_run_nothing(home: Path) -> None:
    async def test() -> None:
        async with running(home, stdio_server(home / "ran.jsonl"), script(call("add", {"a": 1}))) as r:
            await r.offering("add")
            r.daemon.say("One and what?")
            await r.answered(2)
            assert "error" in json.loads(r.items("function_call_output")[0]["output"])
            assert r.ran() == []

    trio.run(test)


def test_a_reload_restarts_the_changed_servers_and_updates_the_session(home: Path) -> None:
    async def test() -> None:
        log = home / "ran.jsonl"
        kept = stdio_server(log, "kept", extra='tools = ["slow"]\n')
        async with running(home, kept + stdio_server(log, "one", extra='tools = ["add"]\n')) as r:
            await r.offering("add", "slow")
            old = r.daemon.tools.servers["kept"]
            config = r.daemon.options.config_path
            assert config is not None
            text = config.read_text()
            config.write_text(text[:text.index("[mcp.servers.one]")]
                              + stdio_server(log, "one", extra='tools = ["broken"]\n'))
            await r.daemon.reload()
            await r.offering("broken", "slow")
            assert "add" not in r.offered()
            assert r.daemon.tools.servers["kept"] is old, "an unchanged server was restarted"
            config.write_text(text[:text.index("[mcp.servers.kept]")])
            await r.daemon.reload()
            await r.wait(lambda: not {"broken", "slow"} & set(r.offered()), "the servers' tools to go")
            assert r.daemon.tools.servers == {}

    trio.run(test)


def test_secret_env_reaches_the_server_like_env(home: Path) -> None:
    async def test() -> None:
        command = json.dumps(forking.command([sys.executable, str(TOOL_SERVER)]))
        log = json.dumps(str(home / "ran.jsonl"))
        toml = f'[mcp.servers.test]\ncommand = {command}\nsecret_env = {{ TOOL_SERVER_LOG = {log} }}\n'
        async with running(home, toml, script(call("add", {"a": 1, "b": 2}))) as r:
            await r.offering("add")
            r.daemon.say("One and two?")
            await r.answered(2)
            assert r.ran() == [{"tool": "add", "arguments": {"a": 1, "b": 2}}]

    trio.run(test)


def test_a_failing_servers_retries_send_no_session_update(home: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("voiced.mcp.server.BACKOFF_S", (0.01, 0.02))

    async def test() -> None:
        dies = '[mcp.servers.dies]\ncommand = ["false"]\n'
        turns = script({"response": {"text": "Hi."}})
        async with running(home, dies + stdio_server(home / "ran.jsonl"), turns) as r:
            await r.offering("add")
            server = r.daemon.tools.servers["dies"]
            failures = server.status.failures
            updates = len(r.received("session.update"))
            await r.wait(lambda: server.status.failures >= failures + 3, "the server to fail again")
            r.daemon.say("Hello.")  # what was sent before it reaches the server first
            await r.answered(1)
            assert len(r.received("session.update")) == updates

    trio.run(test)
