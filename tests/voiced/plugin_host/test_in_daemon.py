"""Plugins inside a real daemon, end to end with the simulator and PulseAudio."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.processes import DaemonProcess, EventReader, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import PulseServer
from tests.support.signals import active_spans, silence, speak
from voiced.pcm import WIRE_RATE as RATE

MISBEHAVING = {
    "always_raises.py": '''
from voiced import hookimpl

@hookimpl
def voiced_event(event):
    raise RuntimeError("always broken")
''',
    "sleeps_forever.py": '''
import trio
from voiced import hookimpl

@hookimpl
async def voiced_event(event):
    await trio.sleep_forever()
''',
    "fails_to_import.py": '''
import a_module_that_does_not_exist
''',
}


@pytest.fixture(scope="module")
def utterance() -> np.ndarray:
    return speak("Hello there. What is the weather like today?", rate=RATE)


def start(tmp_path: Path, pulse: PulseServer, script: dict | None = None, config: str | None = None,
          dropins: dict[str, str] | None = None, *args: str) -> tuple[SimulatorProcess, DaemonProcess]:
    folder = tmp_path / "home" / ".config" / "voiced" / "plugins"
    folder.mkdir(parents=True, mode=0o755)
    for name, source in (dropins or {}).items():
        (folder / name).write_text(source)
        (folder / name).chmod(0o644)  # not left to the umask: a group-writable drop-in is refused
    simulator = SimulatorProcess(tmp_path, script)
    return simulator, DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), *args, config=config)



def test_broken_plugins_are_reported_and_the_conversation_goes_on(
        tmp_path: Path, pulse: PulseServer, processes: list, utterance: np.ndarray) -> None:
    simulator, daemon = start(tmp_path, pulse, dropins=MISBEHAVING)
    processes += [simulator, daemon]
    speaker = pulse.record_speaker()
    speaker.wait_for_data()
    started = time.time()
    pulse.play_into_mic(np.concatenate([utterance, silence(1.0)])).wait(15)
    wait_for(lambda: simulator.sent("response.done"), 15, "an answer")
    daemon.wait_state("listening", timeout=15)
    heard = speaker.stop()[speaker.sample_index_at(started):]
    assert active_spans(heard, RATE), "the answer did not play"

    def states() -> dict[str, dict]:
        result = daemon.voicectl("plugins", "--json")
        assert result.returncode == 0, result.stderr
        return {p["name"]: p for p in json.loads(result.stdout)["plugins"]}

    plugins = wait_for(lambda: (s := states()) and "disabled" in s["always_raises"]["status"] and s, 20,
                       "the raising plugin to be disabled")
    assert "always broken" in plugins["always_raises"]["last_error"]
    assert plugins["fails_to_import"]["status"] == "failed to load"
    assert "a_module_that_does_not_exist" in plugins["fails_to_import"]["last_error"]
    assert plugins["sleeps_forever"]["failures"] >= 1
    assert plugins["goodbye"]["status"] == "enabled" and plugins["goodbye"]["source"] == "bundled"
    human = daemon.voicectl("plugins")
    assert human.returncode == 0 and "fails_to_import" in human.stdout
    # and the daemon still converses
    assert daemon.rpc("say", {"text": "still there?"})["result"]
    wait_for(lambda: len(simulator.sent("response.done")) >= 2, 15, "a second answer")


def test_a_group_writable_drop_in_is_refused_and_plugins_says_why(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    """Guards [S]2: voiced imports no drop-in another user could have written; `voicectl
    plugins` names the file and the fix, and the daemon runs on."""
    marker = tmp_path / "planted-ran"
    simulator, daemon = start(tmp_path, pulse, dropins={
        "planted.py": f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"})
    processes += [simulator, daemon]
    daemon.terminate()
    planted = tmp_path / "home" / ".config" / "voiced" / "plugins" / "planted.py"
    assert marker.read_text() == "ran"  # the user's own file, 0644, runs
    marker.unlink()
    planted.chmod(0o664)
    daemon = DaemonProcess(tmp_path, daemon.env)
    processes.append(daemon)
    listing = daemon.voicectl("plugins")
    assert listing.returncode == 0, listing.stderr
    assert f"not loaded: {planted} is writable by group or others (chmod go-w {planted})" in listing.stdout
    [record] = [p for p in json.loads(daemon.voicectl("plugins", "--json").stdout)["plugins"]
                if p["name"] == "planted"]
    assert record["status"] == "failed to load"
    assert not marker.exists()
    assert daemon.status()["state"] == "listening"


GOODBYE = {"turns": [{"transcript": "Goodbye, see you later.",
                      "response": {"text": "Bye for now!", "audio": {"tone_s": 1.5, "freq": 500}}}]}


@pytest.mark.parametrize(("action", "final"), [("standby", "standby"), ("pause", "paused"), ("exit", None)])
def test_goodbye_ends_the_conversation_after_the_farewell(
        tmp_path: Path, pulse: PulseServer, processes: list, utterance: np.ndarray,
        action: str, final: str | None) -> None:
    config = f'[listen]\ncues = false\n[plugins.goodbye]\naction = "{action}"\n'
    simulator, daemon = start(tmp_path, pulse, GOODBYE, config)
    processes += [simulator, daemon]
    events = EventReader(daemon.socket)
    speaker = pulse.record_speaker()
    speaker.wait_for_data()
    started = time.time()
    pulse.play_into_mic(np.concatenate([utterance, silence(1.0)])).wait(15)
    if final is None:
        wait_for(lambda: daemon.process.poll() is not None, 20, "voiced to exit")
        ended_at = time.time()
        assert daemon.process.returncode == 0, daemon.stderr
    else:
        wait_for(lambda: events.of_type("state.changed") and
                 events.of_type("state.changed")[-1]["data"]["state"] == final, 20, f"state {final}")
        ended_at = events.of_type("state.changed")[-1]["ts"]
    time.sleep(0.3)
    heard = speaker.stop()[speaker.sample_index_at(started):]
    spans = active_spans(heard, RATE)
    assert spans, "the farewell was not played"
    farewell_s = spans[-1][1] - spans[0][0]
    assert farewell_s == pytest.approx(1.5, abs=0.15), "the farewell was cut short"
    assert ended_at >= started + spans[-1][1] - 0.1, "the conversation ended before the farewell finished"
    assert events.of_type("command.matched")
    events.close()


TOOL_CALL = {"turns": [{"transcript": "What time is it?",
                        "response": {"function_call": {"name": "clock_now", "arguments": {}},
                                     "audio": {"tone_s": 0.5}}}]}


def test_a_tool_call_runs_once_and_the_answer_follows(
        tmp_path: Path, pulse: PulseServer, processes: list, utterance: np.ndarray) -> None:
    simulator, daemon = start(tmp_path, pulse, TOOL_CALL)
    processes += [simulator, daemon]
    events = EventReader(daemon.socket, topics=["tool"])
    pulse.play_into_mic(np.concatenate([utterance, silence(1.0)])).wait(15)
    wait_for(lambda: len(simulator.sent("response.done")) >= 2, 15, "the answer after the tool")
    daemon.wait_state("listening", timeout=15)
    outputs = [r["event"]["item"] for r in simulator.received("conversation.item.create")
               if r["event"]["item"]["type"] == "function_call_output"]
    assert len(outputs) == 1
    assert str(time.localtime().tm_year) in outputs[0]["output"]
    assert [e["type"] for e in events.events] == ["tool.called", "tool.result"]
    assert len(simulator.received("response.create")) == 1
    errors = [r["event"]["error"]["code"] for r in simulator.sent("error")]
    assert "conversation_already_has_active_response" not in errors, errors
    answer = [r for r in simulator.sent("response.output_audio_transcript.done")][-1]
    assert "The tool said" in answer["event"]["transcript"]
    events.close()


def test_history_finds_a_turn_by_a_word(tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    simulator, daemon = start(tmp_path, pulse)
    processes += [simulator, daemon]
    daemon.rpc("say", {"text": "tell me about zebras and their stripes"})
    wait_for(lambda: simulator.sent("response.done"), 15, "an answer")
    daemon.wait_state("listening", timeout=15)

    def found() -> list:
        result = daemon.voicectl("history", "zebras", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["turns"]

    turns = wait_for(found, 10, "the turn in the history")
    assert any("zebras" in t["text"] and t["role"] == "user" for t in turns)
    assert daemon.voicectl("history", "zebras").stdout.count("zebras") >= 1


def test_exec_hooks_pass_the_event_on_stdin_and_run_nothing_else(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    out = tmp_path / "events.jsonl"
    canary = tmp_path / "pwned"
    config = f'[plugins.exec_hooks]\n"user.transcript.completed" = "tee -a {out}"\n'
    simulator, daemon = start(tmp_path, pulse, None, config)
    processes += [simulator, daemon]
    text = f"hello; touch {canary} $(touch {canary}) `touch {canary}` | touch {canary}"
    daemon.rpc("say", {"text": text})
    received = wait_for(lambda: out.exists() and out.read_text().strip(), 10, "the hook's output")
    event = json.loads(received.splitlines()[0])
    assert event["type"] == "user.transcript.completed" and event["data"]["text"] == text
    time.sleep(0.5)
    assert not canary.exists(), "text from an event ran as a command"


def session_ids(simulator: SimulatorProcess) -> list[str]:
    return sorted({r["session"] for r in simulator.events("out")})


GREETER = '''
from voiced import RpcMethod, hookimpl


@hookimpl
def voiced_rpc_methods():
    return [RpcMethod("greet", lambda params: "{greeting}")]
'''


def test_sighup_reloads_an_edited_drop_in_and_the_conversation_goes_on(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    simulator, daemon = start(tmp_path, pulse, dropins={"greeter.py": GREETER.format(greeting="v1")})
    processes += [simulator, daemon]
    daemon.rpc("say", {"text": "Remember the word marmalade."})
    wait_for(lambda: simulator.sent("response.done"), 15, "an answer")
    assert daemon.rpc("greeter.greet")["result"] == "v1"
    dropin = tmp_path / "home" / ".config" / "voiced" / "plugins" / "greeter.py"
    dropin.write_text(GREETER.format(greeting="v2"))
    (dropin.parent / "newcomer.py").write_text(GREETER.format(greeting="hello"))
    conversation = daemon.status()["conversation_id"]
    daemon.process.send_signal(signal.SIGHUP)
    wait_for(lambda: daemon.rpc("greeter.greet").get("result") == "v2", 10, "the edited plugin")
    assert daemon.rpc("newcomer.greet")["result"] == "hello"
    status = daemon.status()
    assert status["conversation_id"] == conversation and status["session"]["connected"]
    assert len(session_ids(simulator)) == 1, "the reload dropped the session"
