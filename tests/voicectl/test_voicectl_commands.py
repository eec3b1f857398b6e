"""voicectl as users and scripts run it: output, exit codes, and messages."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def test_status_prints_a_readable_summary(daemon: Any, voicectl: Any) -> None:
    result = voicectl("status")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["state:", "listening"]
    assert "session.connected: yes" in " ".join(result.stdout.split())
    assert "devices.output:    -" in result.stdout
    assert "1h 02m 05s" in result.stdout


def test_status_json_is_the_raw_result(daemon: Any, voicectl: Any) -> None:
    for args in (("status", "--json"), ("--json", "status")):
        result = voicectl(*args)
        assert result.returncode == 0
        assert json.loads(result.stdout) == daemon.status


@pytest.mark.parametrize("command", ["pause", "resume", "interrupt"])
def test_quiet_commands(daemon: Any, voicectl: Any, command: str) -> None:
    result = voicectl(command)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_devices(daemon: Any, voicectl: Any) -> None:
    result = voicectl("devices")
    assert result.returncode == 0
    assert "input[0].name: USB Mic" in " ".join(result.stdout.split())


def test_call_prints_the_result_as_json(daemon: Any, voicectl: Any) -> None:
    result = voicectl("call", "echo", '{"text": "grüß dich"}')
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"text": "grüß dich"}
    positional = voicectl("call", "echo", '["hi"]', "--json")
    assert positional.stdout == '{"text": "hi"}\n'


def test_call_with_bad_json_is_bad_usage(daemon: Any, voicectl: Any) -> None:
    result = voicectl("call", "echo", "{text: hi}")
    assert result.returncode == 1
    assert result.stderr.startswith("voicectl: params are not valid JSON")
    scalar = voicectl("call", "echo", "42")
    assert scalar.returncode == 1
    assert "object or array" in scalar.stderr


def test_daemon_errors_exit_2_with_the_message(daemon: Any, voicectl: Any) -> None:
    refused = voicectl("call", "refuse")
    assert (refused.returncode, refused.stderr) == (2, "voicectl: voiced is paused\n")
    unknown = voicectl("call", "nope")
    assert (unknown.returncode, unknown.stderr) == (2, "voicectl: unknown method: nope\n")
    invalid = voicectl("call", "echo", "{}")
    assert invalid.returncode == 2
    assert "text: Field required" in invalid.stderr


def test_no_daemon(voicectl: Any, home: Path) -> None:
    status = voicectl("status")
    assert status.returncode == 3
    socket_path = home / "run" / "voiced" / "control.sock"
    assert status.stderr == f"voiced is not running (no socket at {socket_path})\n"
    assert status.stdout == ""
    pause = voicectl("pause")
    assert pause.returncode == 1
    assert pause.stderr.startswith("voicectl: cannot reach voiced at")
    assert len(pause.stderr.splitlines()) == 1


def test_a_stale_socket_means_not_running(voicectl: Any, home: Path) -> None:
    path = home / "stale.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    result = voicectl("status", "--socket", str(path))
    assert result.returncode == 3
    assert "nothing listening" in result.stderr


def test_socket_option_and_env(daemon: Any, voicectl: Any, env: dict[str, str]) -> None:
    env["XDG_RUNTIME_DIR"] = "/nonexistent"
    assert voicectl("status").returncode == 3
    assert voicectl("status", "--socket", str(daemon.path)).returncode == 0
    assert voicectl("status", f"--socket={daemon.path}").returncode == 0
    env["VOICED_SOCKET"] = str(daemon.path)
    assert voicectl("status").returncode == 0


@pytest.mark.parametrize("args", [("bogus",), ("status", "--socket"), ("status", "extra"), ("call",), ()])
def test_bad_usage_exits_1(voicectl: Any, args: tuple[str, ...]) -> None:
    result = voicectl(*args)
    assert result.returncode == 1, result


def test_help_lists_the_commands(voicectl: Any) -> None:
    result = voicectl("--help")
    assert result.returncode == 0
    commands = (
        "status",
        "pause",
        "resume",
        "interrupt",
        "restart",
        "say",
        "wake",
        "sleep",
        "talk",
        "events",
        "wait",
        "attach",
        "devices",
        "plugins",
        "history",
        "usage",
        "call",
        "shutdown",
    )
    listed = {line.strip("│ ").split(" ")[0] for line in result.stdout.splitlines()}
    assert set(commands) <= listed, set(commands) - listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("wait", "--state", "asleep"),
            "voicectl: unknown state 'asleep'; valid states: connecting, standby",
        ),
        (("say", "  "), "voicectl: say needs some text"),
        (("talk", "stop", "--for", "2"), "voicectl: --for goes with talk start"),
    ],
)
def test_bad_values_are_bad_usage_on_both_paths(
    voicectl: Any, env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = voicectl(*args)
    assert result.returncode == 1
    assert result.stderr.startswith(message)
    code = "import sys; from voicectl.cli import run_typer; sys.exit(run_typer(sys.argv[1:]))"
    typer = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    assert (typer.returncode, typer.stderr) == (1, result.stderr)


@pytest.mark.parametrize(
    "args", [("talk", "sideways"), ("wait",), ("wait", "--state", "listening", "--timeout", "x")]
)
def test_malformed_commands_get_typer_usage_errors(voicectl: Any, args: tuple[str, ...]) -> None:
    result = voicectl(*args)
    assert result.returncode == 1
    assert "Usage: voicectl" in result.stderr


def test_attach_needs_a_terminal(daemon: Any, voicectl: Any) -> None:
    result = voicectl("attach")
    assert (result.returncode, result.stderr) == (
        1,
        "voicectl: attach needs a terminal (for scripts: voicectl events --follow)\n",
    )


def test_the_typer_app_behaves_like_the_fast_path(daemon: Any, env: dict[str, str]) -> None:
    def typer_run(*args: str) -> subprocess.CompletedProcess[str]:
        code = "import sys; from voicectl.cli import run_typer; sys.exit(run_typer(sys.argv[1:]))"
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)

    assert json.loads(typer_run("status", "--json").stdout) == daemon.status
    assert typer_run("--json", "status").returncode == 0
    assert typer_run("call", "refuse").returncode == 2
    assert typer_run("call", "echo", "nope").returncode == 1
    daemon.stop()
    assert typer_run("status").returncode == 3
