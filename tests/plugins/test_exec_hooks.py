"""exec_hooks: the event on stdin and never through a shell, no key in the environment, bounded
output, and process groups killed whole on a timeout or a stop."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from pydantic import SecretStr
from voiced_plugins import exec_hooks

from tests.plugins.helpers import bundled_alone
from tests.voiced.plugin_host.fakes import FakeDaemon, hosting, wait_until
from voiced.bus import Event
from voiced.config import ApiConfig, Settings

COPY_STDIN = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_bytes(sys.stdin.buffer.read())"
COPY_ARGV = "import json, sys, pathlib; pathlib.Path(sys.argv[1]).write_text(json.dumps(sys.argv[2:]))"
COPY_ENV = "import json, os, sys, pathlib; pathlib.Path(sys.argv[1]).write_text(json.dumps(dict(os.environ)))"
SPAWN_AND_WAIT = """
import pathlib, subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
pathlib.Path(sys.argv[1]).write_text(str(grandchild.pid))
time.sleep(60)
"""
WAIT_FOR_GO = """
import pathlib, sys, time
pathlib.Path(sys.argv[1]).touch()
while not pathlib.Path(sys.argv[2]).exists():
    time.sleep(0.01)
"""
KEY = "sk-test-0123456789abcdef"


def alive(pid: int) -> bool:
    """The process runs (a zombie has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def spawned() -> Iterator[list[int]]:
    """Pids the test's commands started that must not outlive it."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_the_command_gets_the_event_as_json_on_stdin_and_nothing_else_runs(tmp_path: Path) -> None:
    out = tmp_path / "event.json"
    host, daemon = bundled_alone(tmp_path, "exec_hooks", {
        "user.transcript": [sys.executable, "-c", COPY_STDIN, str(out)],
    })
    nasty = f"; touch {tmp_path}/x $(touch {tmp_path}/y) `touch {tmp_path}/z`"

    async def main() -> None:
        async with hosting(host, daemon):
            daemon.bus.publish("state.changed", {"state": "thinking"})
            daemon.bus.publish("user.transcript.completed", {"item_id": "item_1", "text": nasty})
            await wait_until(lambda: out.exists() and out.stat().st_size > 0)

    trio.run(main)
    event = json.loads(out.read_text())
    assert event["type"] == "user.transcript.completed"
    assert event["data"] == {"item_id": "item_1", "text": nasty}
    assert not [name for name in "xyz" if (tmp_path / name).exists()]


def test_arguments_stay_literal_and_no_shell_runs_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards the injection rule: switching to a shell (or a shell-like join of the command line)
    would run the `touch`es or change the arguments the command receives."""
    out = tmp_path / "argv.json"
    literal = [f"; touch {tmp_path}/a", f"$(touch {tmp_path}/b)", f"`touch {tmp_path}/c`",
               f"| touch {tmp_path}/d", "$HOME", "*"]
    command = " ".join(["'" + part + "'" for part in (sys.executable, "-c", COPY_ARGV, str(out), *literal)])
    host, daemon = bundled_alone(tmp_path, "exec_hooks", {"assistant": command})
    started: list[tuple[Any, dict[str, Any]]] = []

    class Spy(subprocess.Popen[bytes]):
        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            started.append((args, kwargs))
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Spy)

    async def main() -> None:
        async with hosting(host, daemon):
            daemon.bus.publish("assistant.response.done", {})
            await wait_until(lambda: out.exists() and out.stat().st_size > 0)

    trio.run(main)
    assert json.loads(out.read_text()) == literal
    assert not [name for name in "abcd" if (tmp_path / name).exists()]
    [(args, kwargs)] = started
    assert args == [sys.executable, "-c", COPY_ARGV, str(out), *literal]
    assert not kwargs.get("shell")


def test_a_command_line_string_is_split_without_a_shell(tmp_path: Path) -> None:
    config = exec_hooks.Config.model_validate({"assistant": "notify-send 'voiced says' $HOME"})
    assert config.commands == {"assistant": ["notify-send", "voiced says", "$HOME"]}


def test_a_bad_command_fails_the_config(tmp_path: Path) -> None:
    host, _ = bundled_alone(tmp_path, "exec_hooks", {"error": ""})
    host.load()
    assert host.records["exec_hooks"].status == "failed config"


def test_the_command_gets_no_key_in_its_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards [S]4: children inherited OPENAI_API_KEY and VOICED_API__KEY; any variable holding
    the key (from the environment or the settings) is left out too."""
    configured = "sk-from-the-config-file-42"
    for name, value in {"OPENAI_API_KEY": KEY, "VOICED_API__KEY": KEY, "voiced_api__key": KEY,
                        "SOME_HEADER": f"Bearer {configured}", "OTHER_COPY": KEY, "KEEP_ME": "kept"}.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "env.json"
    table = {"assistant": [sys.executable, "-c", COPY_ENV, str(out)]}
    host, daemon = bundled_alone(tmp_path, "exec_hooks", table, api=ApiConfig(key=SecretStr(configured)))

    async def main() -> None:
        async with hosting(host, daemon):
            daemon.bus.publish("assistant.response.done", {})
            await wait_until(lambda: out.exists() and out.stat().st_size > 0)

    trio.run(main)
    env = json.loads(out.read_text())
    assert env["KEEP_ME"] == "kept" and env["PATH"]
    hidden = {"OPENAI_API_KEY", "VOICED_API__KEY", "voiced_api__key", "SOME_HEADER", "OTHER_COPY"}
    assert not hidden & env.keys()
    assert not [name for name, value in env.items() if KEY in value or configured in value]


def test_output_is_drained_but_only_the_end_of_stderr_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    """Guards [S]4: all child output was kept in memory (400 MB of stdout cost 800 MiB)."""
    loud = ("import sys; block = b'x' * (1 << 20)\n"
            "for _ in range(50): sys.stdout.buffer.write(block); sys.stderr.buffer.write(block)\n"
            "sys.stderr.write('the real reason'); sys.exit(3)")
    commands = exec_hooks.Commands(max_running=1, timeout_s=60)
    tracemalloc.start()
    try:
        with caplog.at_level(logging.WARNING, "voiced.plugins.exec_hooks"):
            commands.run([sys.executable, "-c", loud], b"{}")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    [line] = caplog.messages
    assert "exited with 3" in line and line.endswith("the real reason")


def test_a_timeout_kills_the_command_with_what_it_started(tmp_path: Path, spawned: list[int]) -> None:
    """Guards [S]4: without a process group, a backgrounded grandchild outlived the "killed" command."""
    pid_file = tmp_path / "grandchild.pid"
    commands = exec_hooks.Commands(max_running=1, timeout_s=1.0)
    commands.run([sys.executable, "-c", SPAWN_AND_WAIT, str(pid_file)], b"{}")
    spawned.append(int(pid_file.read_text()))
    assert eventually(lambda: not alive(spawned[0])), "the grandchild outlived the timeout"


def test_stopping_the_plugin_kills_the_commands_still_running(tmp_path: Path, spawned: list[int]) -> None:
    """Guards [S]4: a command (and what it started) must not outlive the plugins that ran it."""
    pid_file = tmp_path / "grandchild.pid"
    host, daemon = bundled_alone(tmp_path, "exec_hooks", {
        "timeout_s": 60, "assistant": [sys.executable, "-c", SPAWN_AND_WAIT, str(pid_file)]})

    async def main() -> None:
        async with hosting(host, daemon):
            daemon.bus.publish("assistant.response.done", {})
            await wait_until(lambda: pid_file.exists() and pid_file.read_text() != "", timeout=10)
            spawned.append(int(pid_file.read_text()))

    trio.run(main)
    assert eventually(lambda: not alive(spawned[0])), "the command's group outlived the plugin"


def test_a_command_running_across_a_reload_gives_its_slot_back_to_its_own_limiter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards [S]4: a reload swapped the semaphore, and a command still running then released
    the new one: "Semaphore released too many times"."""
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    started, go = tmp_path / "started", tmp_path / "go"
    command = [sys.executable, "-c", WAIT_FOR_GO, str(started), str(go)]
    monkeypatch.setattr(exec_hooks, "config", exec_hooks.Config.model_validate(
        {"max_running": 1, "timeout_s": 60, "assistant": command}))
    monkeypatch.setattr(exec_hooks, "_commands", exec_hooks._commands)
    daemon = FakeDaemon(tmp_path, Settings())
    exec_hooks.voiced_startup(daemon)
    before = set(threading.enumerate())
    exec_hooks.voiced_event(Event("assistant.response.done"))
    assert eventually(started.exists)
    [runner] = set(threading.enumerate()) - before

    exec_hooks.voiced_startup(daemon)  # the configuration is loaded again; the command runs on
    go.touch()
    runner.join(10)
    assert not runner.is_alive() and errors == []
    started.unlink()
    exec_hooks.voiced_event(Event("assistant.response.done"))  # the new limiter has its slot
    assert eventually(started.exists)
    exec_hooks.voiced_shutdown()
