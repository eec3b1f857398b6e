"""`python -m voiced.demo [--check]`: see `voiced.demo`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from voiced.demo import QUESTION

START_S = 30.0
"""How long voiced may take to open its control socket."""
ANSWER_S = 60.0
"""How long the question may take to be heard and answered."""
TOPICS = ["user.transcript", "assistant.transcript", "error", "state.changed"]


def can_use_sound() -> bool:
    """Whether voiced has a microphone and a speaker: virtual ones in its configuration, or
    PortAudio's (through a sound server or not)."""
    from voiced.audio.devices import Direction, start_portaudio
    from voiced.audio.virtual import is_virtual
    from voiced.config import ConfigError, load_settings

    try:
        audio = load_settings().audio
        wanted = {"input": audio.input_device, "output": audio.output_device}
    except ConfigError:
        wanted = {}  # voiced says what is wrong with it when it runs
    directions: tuple[Direction, ...] = ("input", "output")
    needed = [direction for direction in directions if not is_virtual(wanted.get(direction))]
    if not needed:
        return True
    pa, devices = start_portaudio()
    pa.terminate()
    return all(any(d.can(direction) for d in devices) for direction in needed)


def run_demo(folder: Path) -> int:
    """Run voiced on the question and a speaker file in `folder` until it has answered."""
    answer = folder / "answer.wav"
    control = folder / "control.sock"
    config = folder / "config.toml"
    config.write_text('[listen]\nmode = "always"\n\n[audio]\necho = "off"\n')
    env = {**os.environ, "VOICED_LOGGING__LEVEL": "warning",
           "XDG_DATA_HOME": str(folder / "data"), "XDG_STATE_HOME": str(folder / "state")}
    argv = [sys.executable, "-m", "voiced", "--simulate", "--config", str(config), "--socket", str(control),
            "--input-device", f"file:{QUESTION}", "--output-device", f"file:{answer}"]
    daemon = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        with _subscribed(control, daemon) as connection:
            if connection is None:
                return daemon.wait() or 1
            answered = _follow(connection)
            with contextlib.suppress(OSError):  # gone already, or stuck: terminated below
                _call(control, "shutdown")
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(START_S)  # the speaker file is whole once voiced has stopped
        if not answered:
            print(f"voiced: no answer in {ANSWER_S:g} s; its log is in {folder / 'state'}", file=sys.stderr)
            return 1
        print(f"The answer is in {answer} ({_seconds(answer):.1f} s); the question was {QUESTION}.")
        return 0
    finally:
        if daemon.poll() is None:
            daemon.terminate()
        daemon.wait()


@contextlib.contextmanager
def _subscribed(path: Path, daemon: subprocess.Popen[bytes]) -> Iterator[BinaryIO | None]:
    """voiced's events, subscribed to on its control socket; None when voiced exited first."""
    deadline = time.monotonic() + START_S
    while daemon.poll() is None and time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            try:
                sock.connect(str(path))
            except OSError:
                time.sleep(0.1)
                continue
            sock.settimeout(ANSWER_S)
            request = {"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"topics": TOPICS}}
            sock.sendall(json.dumps(request).encode() + b"\n")
            with sock.makefile("rb") as lines:
                yield lines
            return
    yield None


def _follow(lines: BinaryIO) -> bool:
    """Print the transcript as it comes; True once the answer was played to the end."""
    answered = False
    try:
        for line in lines:
            message = json.loads(line)
            if message.get("method") != "event":
                continue
            kind, data = message["params"]["type"], message["params"]["data"]
            if kind == "user.transcript.completed":
                print(f"you: {data.get('text', '')}", flush=True)
            elif kind == "assistant.transcript.delta":
                if not answered:
                    print("assistant: ", end="", flush=True)
                    answered = True
                print(data.get("delta", ""), end="", flush=True)
            elif kind == "assistant.transcript.completed":
                print(flush=True)
            elif kind == "error" and data.get("fatal"):
                print(f"voiced: {data.get('message', data)}", file=sys.stderr)
                return False
            elif kind == "state.changed" and data.get("state") == "listening" and answered:
                return True
    except (OSError, ValueError):
        pass  # voiced went away, or the answer did not come in time
    return False


def _call(path: Path, method: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(START_S)
        sock.connect(str(path))
        sock.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}).encode() + b"\n")
        sock.recv(65536)


def _seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voiced.demo", description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="exit 0 when voiced has a microphone and a speaker to use, else 1")
    args = parser.parse_args(argv)
    if args.check:
        return 0 if can_use_sound() else 1
    try:
        return run_demo(Path(tempfile.mkdtemp(prefix="voiced-demo-")))
    except KeyboardInterrupt:  # Ctrl-C: voiced was stopped on the way out
        print(file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
