"""The API key leaves through no output: not on the error paths (a refused key, a refused
connection, a TLS failure), not in the event stream, `plugins`, recordings, history,
transcripts or exec_hooks' environment, and not through logging a plugin misuses.

Each test reads every byte voiced wrote (stderr, the log file, every file under its
home) and everything it answered, and looks for the key, or the tail of it that a
partial redaction would leave. Guards issue 11 items 2, 4, 10 and 15."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.support.processes import (
    SECRET_KEY,
    DaemonProcess,
    EventReader,
    SimulatorProcess,
    daemon_env,
    wait_for,
)

KEY_TAIL = SECRET_KEY[-10:]


def everything_written(daemon: DaemonProcess, *extra: Path) -> dict[str, str]:
    """stderr and every file under the daemon's folder (log, history, transcripts,
    recordings, anything a plugin wrote), read as bytes."""
    files = [p for p in daemon.folder.rglob("*") if p.is_file() and not p.is_socket()]
    written = {str(path): path.read_bytes().decode("latin-1") for path in [*files, *extra]}
    written["stderr"] = daemon.stderr
    return written


def assert_no_key(outputs: dict[str, str]) -> None:
    for where, text in outputs.items():
        assert SECRET_KEY not in text and KEY_TAIL not in text, f"the API key leaked into {where}"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.long(5)
@pytest.mark.parametrize("path", ["refused key (401)", "refused connection", "TLS failure"])
def test_the_key_stays_out_of_every_error_path(
        path: str, tmp_path: Path, virtual_sound: dict[str, str], processes: list) -> None:
    refused_key = path.startswith("refused key")
    simulator = SimulatorProcess(tmp_path, None, *(["--api-key", "sk-another"] if refused_key else []))
    env = daemon_env(virtual_sound, simulator)
    host_port = simulator.base_url.split("//", 1)[1].split("/", 1)[0]
    if path == "refused connection":
        env["VOICED_API__BASE_URL"] = f"ws://127.0.0.1:{closed_port()}/v1"
    elif path == "TLS failure":  # a plain WebSocket server behind a wss:// address
        env["VOICED_API__BASE_URL"] = f"wss://{host_port}/v1"
    daemon = DaemonProcess(tmp_path, env, wait_ready=False)
    processes += [simulator, daemon]
    if refused_key:
        daemon.wait_state("error", timeout=20)
    else:  # a failed attempt is logged, then retried
        wait_for(lambda: daemon.log_file().exists() and "reconnecting in" in daemon.log_file().read_text(),
                 20, "a failed connection attempt in the log")
    answers = {
        "status": json.dumps(daemon.rpc("status")),
        "voicectl status": daemon.voicectl("status").stdout,
        "voicectl doctor": (doctor := daemon.voicectl("doctor")).stdout + doctor.stderr,
    }
    assert daemon.terminate() == 0
    outputs = everything_written(daemon) | answers
    assert "debug" in daemon.log_file().read_text().lower(), "the log is not at debug level"
    assert_no_key(outputs)


LEAKY_PLUGIN = '''
import logging

from voiced import hookimpl

log = logging.getLogger("leaky")


@hookimpl
def voiced_startup(daemon):
    key = daemon.settings.api.key.get_secret_value()
    handler = logging.FileHandler(HANDLER_FILE)
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)  # a handler of its own, after voiced's set-up
    log.warning("the key is %s", key)
    log.warning("a malformed call %d", key)
    try:
        raise RuntimeError(f"failed with {key}")
    except RuntimeError:
        log.exception("a traceback holding the key")
'''


def test_the_key_stays_out_of_a_conversation_and_everything_plugins_see(
        tmp_path: Path, virtual_sound: dict[str, str], processes: list) -> None:
    handler_file = tmp_path / "plugin-handler.log"
    env_file = tmp_path / "exec-hook-env.txt"
    dropins = tmp_path / "home" / ".config" / "voiced" / "plugins"
    dropins.mkdir(parents=True, mode=0o755)
    (dropins / "leaky.py").write_text(LEAKY_PLUGIN.replace("HANDLER_FILE", repr(str(handler_file))))
    (dropins / "leaky.py").chmod(0o644)
    config = (
        "[recording]\nenabled = true\n"
        "[plugins.exec_hooks]\n"
        f'"assistant.response.done" = ["sh", "-c", "env > {env_file}"]\n'
    )
    simulator = SimulatorProcess(tmp_path)
    daemon = DaemonProcess(tmp_path, daemon_env(virtual_sound, simulator), config=config)
    processes += [simulator, daemon]
    events = EventReader(daemon.socket)
    daemon.rpc("say", {"text": "What is the key?"})
    events.wait_for("assistant.response.done", timeout=20)
    wait_for(lambda: env_file.exists() and env_file.stat().st_size, 10, "the exec hook's environment")
    answers = {
        "event stream": json.dumps(list(events.events)),
        "voicectl plugins --json": daemon.voicectl("plugins", "--json").stdout,
        "voicectl plugins": daemon.voicectl("plugins").stdout,
        "describe": json.dumps(daemon.rpc("describe")),
        "history": daemon.voicectl("history", "--json").stdout,
    }
    events.close()
    assert daemon.terminate() == 0
    outputs = everything_written(daemon, handler_file, env_file) | answers

    # What makes the scan worth something: each of these really was written.
    assert "HOME=" in outputs[str(env_file)], "the exec hook did not run"
    assert "the key is ***" in outputs[str(handler_file)], "the plugin's handler saw nothing"
    assert "a traceback holding the key" in outputs[str(handler_file)]
    assert any(name.endswith(".wav") for name in outputs), "no recording was written"
    assert any("transcripts" in name for name in outputs), "no transcript was written"
    assert "What is the key?" in answers["history"]
    assert_no_key(outputs)
