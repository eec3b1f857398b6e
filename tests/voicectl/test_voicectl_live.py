"""voicectl's event and turn commands against a real voiced and the simulator.

events, wait, say, usage and talk are only worth as much as what the daemon really
does with them, so every test here runs the real processes (see ``start_voiced``).
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.processes import wait_for

from .conftest import Voiced

ANSWER = {"turns": [{"response": {"text": "Hello to you, friend.", "audio": {"tone_s": 1.5}}}] * 4}
VOICECTL = Path(sys.executable).parent / "voicectl"
MANUAL = '[audio]\nturn_detection = "manual"\n'


class Lines:
    """A background process's stdout, line by line, with timeouts."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.queue.put(line)
        self.queue.put(None)

    def next(self, timeout: float = 10.0) -> str:
        line = self.queue.get(timeout=timeout)
        assert line is not None, "the output ended"
        return line

    def until(self, predicate: Callable[[str], bool], timeout: float = 15.0) -> list[str]:
        """Every line up to and including the first that matches."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            line = self.next(max(deadline - time.monotonic(), 0.01))
            seen.append(line)
            if predicate(line):
                return seen


def finish(process: subprocess.Popen[str], timeout: float = 10.0) -> tuple[int, str]:
    """Wait for the process; its exit code and stderr (which must hold no traceback)."""
    process.wait(timeout)
    assert process.stderr is not None
    stderr = process.stderr.read()
    assert "Traceback" not in stderr, stderr
    return process.returncode, stderr


def test_events_prints_the_snapshot(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced()
    human = voiced.voicectl("events")
    assert human.returncode == 0
    assert human.stdout.splitlines()[0].split() == ["state:", "listening"]
    assert "conversation_id:" in human.stdout
    snapshot = json.loads(voiced.voicectl("events", "--json").stdout)
    assert snapshot["state"] == "listening"
    assert snapshot["conversation_id"] == voiced.daemon.status()["conversation_id"]


def test_events_follow_json_is_the_snapshot_then_numbered_events(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced(ANSWER)
    follower = voiced.popen("events", "--follow", "--json")
    lines = Lines(follower)
    snapshot = json.loads(lines.next())
    assert snapshot["state"] == "listening" and "seq" not in snapshot
    said = voiced.voicectl("say", "hello")
    assert (said.returncode, said.stdout, said.stderr) == (0, "", "")
    back = lines.until(lambda line: json.loads(line)["data"].get("state") == "listening")
    events = [json.loads(line) for line in back]
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert all(set(event) == {"seq", "ts", "type", "data"} for event in events)
    types = [event["type"] for event in events]
    assert types[0] == "user.transcript.completed" and events[0]["data"]["text"] == "hello"
    assert {"assistant.transcript.completed", "assistant.response.done", "usage.updated"} <= set(types)
    done = events[types.index("assistant.response.done")]["data"]
    assert done["status"] == "completed" and done["latency"]["first_audio_ms"] is not None
    follower.send_signal(signal.SIGINT)
    assert finish(follower) == (0, "")


def test_events_follow_human_lines_and_topics(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced(ANSWER)
    follower = voiced.popen("events", "--follow", "state.", "assistant.transcript.completed")
    lines = Lines(follower)
    assert lines.next().split()[1] == "snapshot"
    voiced.voicectl("say", "hello")
    seen = lines.until(lambda line: "assistant.transcript.completed" in line)
    clock = r"\d\d:\d\d:\d\d\.\d\d\d"
    assert all(re.match(clock + " ", line) for line in seen)
    kinds = {line.split()[1] for line in seen}
    assert kinds == {"state.changed", "assistant.transcript.completed"}
    transcript = next(line for line in seen if "assistant.transcript.completed" in line)
    assert transcript.rstrip().endswith('text="Hello to you, friend."')
    assert any("state=speaking previous=thinking" in line for line in seen)
    follower.send_signal(signal.SIGINT)
    assert finish(follower) == (0, "")


def test_events_follow_exits_1_when_voiced_goes_away(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced()
    follower = voiced.popen("events", "--follow")
    Lines(follower).next()
    voiced.daemon.terminate()
    code, stderr = finish(follower)
    assert code == 1
    assert stderr.startswith("voicectl: ") and len(stderr.splitlines()) == 1


def test_events_into_a_closed_pipe_is_quiet(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced(ANSWER)
    command = f"{VOICECTL} --socket {voiced.socket} events --follow | head -n 1"
    reader = subprocess.Popen(
        ["bash", "-o", "pipefail", "-c", command],
        env=voiced.daemon.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    voiced.voicectl("say", "hello")  # events to write into the closed pipe
    out, err = reader.communicate(timeout=15)
    assert "snapshot" in out
    assert (reader.returncode, err) == (0, "")


def test_wait_returns_when_the_answer_plays(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced(ANSWER)
    assert voiced.voicectl("wait", "--state", "listening", "--timeout", "5").returncode == 0
    waiter = voiced.popen("wait", "--state", "speaking", "--timeout", "15")
    time.sleep(0.3)
    assert waiter.poll() is None, "wait returned before anything was said"
    voiced.voicectl("say", "hello")
    assert finish(waiter) == (0, "")
    assert voiced.daemon.status()["state"] == "speaking"
    assert voiced.simulator.sent("response.output_audio.delta")


def test_wait_times_out_with_the_state_it_saw(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced()
    started = time.monotonic()
    result = voiced.voicectl("wait", "--state", "speaking", "--timeout", "0.5")
    assert 0.5 <= time.monotonic() - started < 5
    assert result.returncode == 1
    assert result.stderr == "voicectl: timed out waiting for state speaking (now: listening)\n"


def test_wait_for_an_unknown_state_lists_the_states(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced()
    result = voiced.voicectl("wait", "--state", "asleep")
    assert result.returncode == 1
    assert "unknown state 'asleep'" in result.stderr
    for state in ("connecting", "standby", "listening", "user_speaking", "thinking", "speaking", "paused"):
        assert state in result.stderr


def _summed(simulator: Any) -> dict[str, int]:
    sums = {"input": 0, "output": 0, "total": 0}
    for record in simulator.sent("response.done"):
        usage = record["event"]["response"]["usage"]
        sums["input"] += usage["input_tokens"]
        sums["output"] += usage["output_tokens"]
        sums["total"] += usage["total_tokens"]
    return sums


def test_usage_sums_what_the_simulator_reported(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced(ANSWER)
    for text in ("hello", "and hello again, with more words this time"):
        voiced.voicectl("say", text)
        voiced.daemon.wait_state("speaking")
        voiced.daemon.wait_state("listening")
    wait_for(lambda: len(voiced.simulator.sent("response.done")) == 2, 10, "two answers")
    result = voiced.voicectl("usage", "--json")
    assert result.returncode == 0
    usage = json.loads(result.stdout)
    sums = _summed(voiced.simulator)
    last = voiced.simulator.sent("response.done")[-1]["event"]["response"]["usage"]
    assert usage["responses"] == 2
    for scope in ("conversation", "today"):
        assert {key: usage[scope][key] for key in sums} == sums
    assert usage["last_turn"]["total"] == last["total_tokens"]

    table = voiced.voicectl("usage").stdout.splitlines()
    assert table[0].split() == ["input", "cached", "output", "total", "cost"]
    rows = {line[:12].strip(): line[12:].split() for line in table[1:4]}
    assert rows["conversation"][:4] == [str(sums["input"]), "0", str(sums["output"]), str(sums["total"])]
    assert rows["today"][4].startswith("$")
    assert rows["last turn"][3] == str(last["total_tokens"])


def test_say_needs_text_and_a_daemon(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced()
    empty = voiced.voicectl("say", " ")
    assert empty.returncode == 1 and "say needs some text" in empty.stderr
    voiced.daemon.terminate()
    gone = voiced.voicectl("say", "hello")
    assert gone.returncode == 1
    assert gone.stderr.startswith("voicectl: cannot reach voiced") and len(gone.stderr.splitlines()) == 1


def test_restart_starts_a_new_conversation(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced()
    before = voiced.daemon.status()["conversation_id"]
    result = voiced.voicectl("restart", "--json")
    assert result.returncode == 0
    after = json.loads(result.stdout)["conversation_id"]
    assert after != before
    voiced.daemon.wait_state("listening")
    assert voiced.daemon.status()["conversation_id"] == after


def test_talk_needs_manual_turns(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced()
    for args in (("talk", "start"), ("talk", "--for", "1")):
        result = voiced.voicectl(*args)
        assert result.returncode == 2
        assert result.stderr == 'voicectl: talk needs [audio] turn_detection = "manual"\n'


def test_talk_for_a_second_commits_a_turn(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced(ANSWER, config=MANUAL)
    result = voiced.voicectl("talk", "--for", "1")
    assert (result.returncode, result.stderr) == (0, "")
    commit = wait_for(lambda: voiced.simulator.received("input_audio_buffer.commit"), 5, "the commit")
    wait_for(lambda: voiced.simulator.received("response.create"), 5, "the response request")
    wait_for(lambda: voiced.simulator.sent("response.done"), 10, "the answer")
    assert len(commit) == 1


def test_talk_start_stop_and_hold_to_talk(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced(ANSWER, config=MANUAL)
    assert voiced.voicectl("talk", "start").returncode == 0
    time.sleep(0.5)
    assert not voiced.simulator.received("input_audio_buffer.commit")
    assert voiced.voicectl("talk", "stop").returncode == 0
    wait_for(lambda: len(voiced.simulator.received("input_audio_buffer.commit")) == 1, 5, "the first commit")
    voiced.daemon.wait_state("listening", timeout=15)

    holder = voiced.popen("talk", stdin=subprocess.PIPE)
    time.sleep(0.8)
    assert len(voiced.simulator.received("input_audio_buffer.commit")) == 1, "committed before Enter"
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert finish(holder) == (0, "")
    wait_for(lambda: len(voiced.simulator.received("input_audio_buffer.commit")) == 2, 5, "the second commit")


def test_methods_the_daemon_may_not_have_yet(start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced()
    for args in (("wake",), ("sleep",), ("plugins",), ("history", "weather", "--limit", "3")):
        result = voiced.voicectl(*args)
        assert result.returncode in (0, 2), result
        if result.returncode == 2:
            assert result.stderr.startswith("voicectl: ") and len(result.stderr.splitlines()) == 1
