"""``python -m voiced.simulator``: the ready line, a clean stop on SIGTERM, one-line errors."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest

READY = re.compile(r"^voiced simulator listening on http://127\.0\.0\.1:(\d+)/v1\n$")


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
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
    [["--speed", "0"], ["--script", "/nonexistent/script.toml"], ["--bogus"], ["--port", "x"]],
)
def test_bad_arguments_are_one_line_and_exit_2(args):
    result = subprocess.run(
        [sys.executable, "-m", "voiced.simulator", *args], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("voiced simulator: ")
