"""``python -m voiced.simulator``: the ready line, a clean stop on SIGTERM, one-line errors."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected

from tests.support import forking

READY = re.compile(r"^voiced simulator listening on http://127\.0\.0\.1:(\d+)/v1\n$")


def _start(*args: str) -> subprocess.Popen[str] | forking.ForkedProcess:
    return forking.popen(
        [sys.executable, "-m", "voiced.simulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_prints_ready_line_and_stops_cleanly(tmp_path, stop):
    process = _start("--port", "0", "--event-log", str(tmp_path / "log.jsonl"), "--speed", "10")
    try:
        line = process.stdout.readline()
        assert READY.match(line), line
        process.send_signal(stop)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert out == ""
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["--speed", "0"],
        ["--script", "/nonexistent/script.toml"],
        ["--bogus"],
        ["--port", "x"],
        ["--fault", "action=drop"],
        ["--fault", "action=close,code=x,at_s=1"],
        ["--fault", "action=tool_call,depth=0,at_s=1"],
        ["--fault", "action=bad_delta,delta=odd,every_nth_session=2"],
        ["--max-session-s", "0"],
        ["--refuse-connections", "-1"],
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(args):
    result = forking.run(
        [sys.executable, "-m", "voiced.simulator", *args], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("voiced simulator: ")


def test_cap_faults_and_refusals_from_the_command_line(tmp_path, realtime):
    log_path = tmp_path / "log.jsonl"
    process = _start(
        "--port", "0", "--strict", "--event-log", str(log_path),
        "--max-session-s", "0.5", "--refuse-connections", "1",
        "--fault", "action=error,code=server_error,message=oops,at_s=0",
    )  # fmt: skip

    async def client(url: str) -> None:
        with pytest.raises(ConnectionRejected):
            async with realtime.connect(url):
                pass
        async with realtime.connect(url) as connection:
            error = await connection.recv()
            assert (error["type"], error["error"]["message"]) == ("error", "oops")
            with pytest.raises(ConnectionClosed) as closed:
                await connection.recv()
            assert (closed.value.reason.code, closed.value.reason.reason) == (1001, "maximum duration")

    try:
        line = process.stdout.readline()
        url = READY.match(line) and line.strip().rsplit(" ", 1)[-1]
        assert url, line
        trio.run(client, url)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    finally:
        process.kill()
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    notes = [(r["session"] != "", r["event"]) for r in records if r["dir"] == "sim"]
    fault = {"type": "sim.fault", "action": "error", "code": "server_error", "message": "oops", "at_s": 0}
    assert notes == [
        (False, {"type": "sim.refused", "status": 503}),
        (True, fault),
        (True, {"type": "sim.closed", "code": 1001, "reason": "maximum duration"}),
        (True, {"type": "sim.ended"}),
    ]


def test_help_documents_every_fault_action():
    """Every action the fault model accepts, and the schedule keys, are in --help."""
    from typing import get_args

    from voiced.simulator import Fault

    result = forking.run(
        [sys.executable, "-m", "voiced.simulator", "--help"], capture_output=True, text=True, timeout=20
    )
    actions = get_args(Fault.model_fields["action"].annotation)
    assert {"bad_delta", "tool_call"} <= set(actions)
    for action in actions:
        assert f"action={action}" in result.stdout
    for key in ("every_nth_session=N", "first_session=K", "arguments=A", "delta=D"):
        assert key in result.stdout
