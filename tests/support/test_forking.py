"""The fork server runs a command as a fresh interpreter would: arguments, environment,
folder, streams, exit status, signals; and what it cannot reproduce runs for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import forking

REPORT = textwrap.dedent("""
    import json, os, random, sys
    import numpy
    print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "colour": os.environ.get("COLOUR"),
                      "stdin": sys.stdin.read(), "random": [random.random(), numpy.random.rand()],
                      "pid": os.getpid(),
                      "main": __name__, "path0": sys.path[0]}))
    print("to stderr", file=sys.stderr)
    sys.exit(int(sys.argv[1]))
""")


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "report.py"
    path.write_text(REPORT)
    return path


def test_a_forked_script_gets_its_arguments_environment_folder_and_streams(
        tmp_path: Path, script: Path) -> None:
    env = {**os.environ, "COLOUR": "green"}
    runs = [forking.run([sys.executable, str(script), "3", "x"], input="hello", capture_output=True,
                        text=True, env=env, cwd=tmp_path, timeout=30) for _ in range(2)]
    for done in runs:
        assert isinstance(done.returncode, int) and done.returncode == 3
        report = json.loads(done.stdout)
        assert report["argv"] == [str(script), "3", "x"]
        assert (report["cwd"], report["colour"], report["stdin"]) == (str(tmp_path), "green", "hello")
        assert (report["main"], report["path0"]) == ("__main__", str(tmp_path))
        assert report["pid"] != os.getpid() and done.stderr == "to stderr\n"
    first, second = (json.loads(done.stdout) for done in runs)
    assert all(a != b for a, b in zip(first["random"], second["random"], strict=True)), (
        "each child seeds its own random numbers, numpy's too")


def test_it_was_forked_not_started() -> None:
    process = forking.popen([sys.executable, "-m", "voiced.simulator", "--help"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert isinstance(process, forking.ForkedProcess)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0 and "usage" in out.lower()


def test_an_exception_a_string_exit_and_a_signal_end_it_as_they_end_python(tmp_path: Path) -> None:
    cases = {"raise ValueError('boom')": (1, "ValueError: boom"),
             "raise SystemExit('bye')": (1, "bye"),
             "import os, signal; os.kill(os.getpid(), signal.SIGTERM)": (-signal.SIGTERM, ""),
             "raise KeyboardInterrupt": (-signal.SIGINT, "KeyboardInterrupt")}
    for number, (code, (status, said)) in enumerate(cases.items()):
        path = tmp_path / f"case{number}.py"
        path.write_text(code + "\n")
        done = forking.run([sys.executable, str(path)], capture_output=True, text=True, timeout=30)
        assert (done.returncode, said in done.stderr) == (status, True), (code, done.stderr)


def test_signals_reach_it_and_wait_times_out(tmp_path: Path) -> None:
    path = tmp_path / "sleep.py"
    path.write_text("import time\nprint('ready', flush=True)\ntime.sleep(60)\n")
    process = forking.popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(0.1)
    process.terminate()
    assert process.wait(10) == -signal.SIGTERM


def test_what_a_fork_cannot_reproduce_starts_for_real(script: Path) -> None:
    other_start_up = {**os.environ, "PYTHONHASHSEED": "123"}
    started = [forking.popen([sys.executable, str(script), "0"], env=other_start_up,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
               forking.popen(["true"]),
               forking.popen([sys.executable, str(script), "0"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    for process in started:
        assert isinstance(process, subprocess.Popen)
        assert process.wait(30) == 0


def test_via_runs_a_command_started_by_another_program(script: Path) -> None:
    command = forking.command([sys.executable, str(script), "5"])
    assert command[:3] == [sys.executable, str(forking.SERVER), "via"]
    done = subprocess.run(command, input="piped", capture_output=True, text=True, timeout=30)
    assert done.returncode == 5
    assert json.loads(done.stdout)["stdin"] == "piped"
