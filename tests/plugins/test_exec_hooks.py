from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import trio
from voiced_plugins import exec_hooks

from tests.plugins.helpers import bundled_alone
from tests.voiced.plugin_host.fakes import hosting, wait_until

COPY_STDIN = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_bytes(sys.stdin.buffer.read())"


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


def test_a_command_line_string_is_split_without_a_shell(tmp_path: Path) -> None:
    config = exec_hooks.Config.model_validate({"assistant": "notify-send 'voiced says' $HOME"})
    assert config.commands == {"assistant": ["notify-send", "voiced says", "$HOME"]}


def test_a_command_that_overruns_is_killed(tmp_path: Path) -> None:
    exec_hooks._running.acquire()
    started = time.monotonic()
    exec_hooks.run([sys.executable, "-c", "import time; time.sleep(30)"], b"{}", 0.3)
    assert time.monotonic() - started < 5


def test_a_bad_command_fails_the_config(tmp_path: Path) -> None:
    host, _ = bundled_alone(tmp_path, "exec_hooks", {"error": ""})
    host.load()
    assert host.records["exec_hooks"].status == "failed config"
