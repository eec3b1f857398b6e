"""`scripts/run.sh` on a machine without a sound server runs the demo: one line says so, the
transcript comes as it happens, the answer is a WAV file; with a sound server it runs voiced
on the real devices as before.

run.sh runs from a copy of the scripts beside this checkout's venv, with a setup.sh that
does nothing: the real one installs packages, which is not this test's business.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.headless import no_sound_server
from tests.support.processes import wait_for
from tests.support.pulse import PulseServer
from tests.support.signals import active_spans, load_wav

ROOT = Path(__file__).resolve().parents[3]
DEMO_LINE = ("No sound server answers here: running the demo, a recorded question in and the answer "
             "to a WAV file")


def checkout(folder: Path) -> Path:
    """A tree with scripts/run.sh, a setup.sh that does nothing, and this checkout's venv."""
    tree = folder / "tree"
    (tree / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "run.sh", tree / "scripts" / "run.sh")
    (tree / "scripts" / "setup.sh").write_text("#!/usr/bin/env bash\n")
    (tree / ".venv").symlink_to(ROOT / ".venv")
    return tree


@pytest.mark.long(10)
@pytest.mark.live  # a real voiced and its simulator, though not through the fixtures
def test_run_sh_without_a_sound_server_runs_the_demo(tmp_path: Path) -> None:
    tree = checkout(tmp_path)
    env = {**no_sound_server(tmp_path), "TMPDIR": str(tmp_path)}  # where the demo leaves its folder
    run = subprocess.run(["bash", str(tree / "scripts" / "run.sh")], env=env,
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stderr == ""
    lines = run.stdout.splitlines()
    assert lines[0] == DEMO_LINE
    assert re.fullmatch(r"you: \(simulated transcript of \d+\.\d s of speech\)", lines[1]), lines
    assert re.fullmatch(r"assistant: \(simulated transcript of \d+\.\d s of speech\)", lines[2]), lines
    found = re.fullmatch(r"The answer is in (/\S+answer\.wav) \((\d+\.\d) s\); the question was \S+\.",
                         lines[3])
    assert found and len(lines) == 4, lines
    assert Path(found[1]).parent.parent == tmp_path
    answer, rate = load_wav(found[1])
    assert len(answer) / rate == pytest.approx(float(found[2]), abs=0.05)
    spans = active_spans(answer, rate)
    assert spans and spans[-1][1] - spans[0][0] > 1.0, f"the answer file holds {spans}"


def status(control: Path) -> dict[str, Any] | None:
    """voiced's `status`, or None while it does not answer yet."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(control))
            sock.sendall(b'{"jsonrpc": "2.0", "id": 1, "method": "status"}\n')
            return json.loads(sock.makefile("rb").readline())["result"]
    except (OSError, ValueError):
        return None


def test_run_sh_with_a_sound_server_runs_voiced_on_its_devices(tmp_path: Path, pulse: PulseServer) -> None:
    tree = checkout(tmp_path)
    env = {**no_sound_server(tmp_path), **pulse.env}
    run = subprocess.Popen(["bash", str(tree / "scripts" / "run.sh")], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, stdin=subprocess.DEVNULL)
    try:
        control = tmp_path / "run" / "voiced" / "control.sock"
        listening = wait_for(lambda: run.poll() is None and (now := status(control))
                             and now["state"] == "listening" and now, 30, "voiced listening")
        assert not listening["devices"]["input"]["name"].startswith("file:")
        assert listening["devices"]["input"]["index"] >= 0
    finally:
        run.send_signal(signal.SIGTERM)
        out, _ = run.communicate(timeout=20)
    assert out.splitlines() == [
        "OPENAI_API_KEY is not set: running against the simulator (it echoes what you say)"]


def test_the_check_counts_virtual_devices_in_the_configuration(tmp_path: Path) -> None:
    env = no_sound_server(tmp_path)
    check = [str(ROOT / ".venv" / "bin" / "python"), "-m", "voiced.demo", "--check"]
    assert subprocess.run(check, env=env, capture_output=True, timeout=60).returncode == 1
    virtual = {**env, "VOICED_AUDIO__INPUT_DEVICE": "null", "VOICED_AUDIO__OUTPUT_DEVICE": "null"}
    assert subprocess.run(check, env=virtual, capture_output=True, timeout=60).returncode == 0
    half = {**env, "VOICED_AUDIO__INPUT_DEVICE": "null"}
    assert subprocess.run(check, env=half, capture_output=True, timeout=60).returncode == 1


@pytest.mark.long(6)
@pytest.mark.live
def test_ctrl_c_stops_the_demo_and_its_voiced_quietly(tmp_path: Path) -> None:
    env = {**no_sound_server(tmp_path), "TMPDIR": str(tmp_path)}
    demo = subprocess.Popen([str(ROOT / ".venv" / "bin" / "python"), "-m", "voiced.demo"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        assert demo.stdout is not None
        assert demo.stdout.readline().startswith("you: ")
        demo.send_signal(signal.SIGINT)
        _, err = demo.communicate(timeout=30)
    finally:
        demo.kill()
    assert (demo.returncode, err) == (130, "\n")
    [folder] = tmp_path.glob("voiced-demo-*")
    assert not (folder / "control.sock").exists(), "voiced was left running"
