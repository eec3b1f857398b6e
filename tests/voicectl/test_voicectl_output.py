"""What voiced (and, through it, the model) says reaches the terminal without control characters.

A transcript can hold anything the model was talked into saying; printed raw, an escape
sequence in it would drive the user's terminal (retitle it, clear it, rewrite what is on
screen). Every way voicectl prints the daemon's text is checked here.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from voicectl import attach
from voicectl.request_commands import printable, to_json
from voiced.control import ClientConnection, MethodRegistry, RpcError

from .conftest import Daemon

HOSTILE = "ok\x1b]0;pwned\x07 \x1b[2J\x9b31m\x7f\rred\x00"
RESULTS = {
    "status": {"state": HOSTILE, HOSTILE: "key", "nested": {"list": [HOSTILE, 1]}},
    "usage": {"model": HOSTILE, "today": {"date": HOSTILE, "total": 1}, "rate_limits": [{"name": HOSTILE}]},
}
CONTROLS = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]} - {"\n", "\t"}


def assert_no_controls(text: str) -> None:
    assert not CONTROLS & set(text), repr(text)


def hostile_methods() -> MethodRegistry:
    methods = MethodRegistry()

    async def status(params: None, client: ClientConnection) -> dict[str, Any]:
        return RESULTS["status"]

    async def usage(params: None, client: ClientConnection) -> dict[str, Any]:
        return RESULTS["usage"]

    async def pause(params: None, client: ClientConnection) -> None:
        raise RpcError(-32001, HOSTILE)

    methods.add("status", status)
    methods.add("usage", usage)
    methods.add("pause", pause)
    return methods


@pytest.fixture
def hostile_daemon(home: Path) -> Iterator[Daemon]:
    with Daemon(home / "run" / "voiced" / "control.sock", hostile_methods()) as running:
        yield running


@pytest.mark.parametrize(
    "args",
    [("status",), ("status", "--json"), ("usage",), ("usage", "--json"), ("pause",), ("call", "status")],
)
def test_request_commands_print_no_control_characters(
    hostile_daemon: Daemon, voicectl: Any, args: tuple[str, ...]
) -> None:
    """Guards [S]15: results and error messages from voiced are printed without control
    characters; JSON output keeps the data whole, escaped (it still parses to the same)."""
    result = voicectl(*args)
    assert result.returncode in (0, 2)
    assert_no_controls(result.stdout)
    assert_no_controls(result.stderr)
    assert "pwned" in result.stdout + result.stderr  # the text is there, defused
    if "--json" in args or "call" in args:
        assert json.loads(result.stdout) == RESULTS[args[-1] if "call" in args else args[0]]


class OneSubscriber:
    """A stand-in voiced that answers one subscribe with a snapshot, sends ``events`` and hangs up."""

    def __init__(self, path: Path, snapshot: dict[str, Any], events: list[dict[str, Any]]) -> None:
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen()
        lines = [{"jsonrpc": "2.0", "id": 1, "result": snapshot}]
        lines += [{"jsonrpc": "2.0", "method": "event", "params": event} for event in events]
        self.data = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(self.data)

    def close(self) -> None:
        self.thread.join(10)
        self.server.close()


@pytest.mark.parametrize("as_json", [False, True])
def test_events_print_no_control_characters(home: Path, voicectl: Any, as_json: bool) -> None:
    """Guards [S]15: event lines (transcripts above all) are printed without control characters."""
    path = home / "run" / "events.sock"
    event = {"seq": 1, "ts": 0.0, "type": "assistant.transcript.delta", "data": {"delta": HOSTILE}}
    server = OneSubscriber(path, {"state": HOSTILE}, [event])
    result = voicectl("events", "--follow", "--socket", str(path), *(["--json"] if as_json else []))
    server.close()
    assert result.returncode == 1  # the stand-in hung up
    assert_no_controls(result.stdout)
    assert "pwned" in result.stdout
    if as_json:
        assert [json.loads(line) for line in result.stdout.splitlines()][1] == event


class FakeScreen:
    """Just enough of a curses window to see what attach writes."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def getmaxyx(self) -> tuple[int, int]:
        return 24, 80

    def addnstr(self, row: int, column: int, text: str, width: int, attr: int = 0) -> None:
        self.written.append(text)


def test_attach_draws_rows_without_control_characters() -> None:
    """Guards [S]15: every row attach draws goes through one place that strips them."""
    view = attach.Attach.__new__(attach.Attach)  # the drawing part alone, without curses set up
    view.screen = FakeScreen()
    view._put(1, f"assistant: {HOSTILE}\nmore\tand more")
    (written,) = view.screen.written
    assert_no_controls(written.replace("\t", "").replace("\n", ""))
    assert "\n" not in written and "\t" not in written
    assert written.startswith("assistant: ok]0;pwned [2J31mredmoreand more")


def test_printable_and_to_json() -> None:
    assert printable("a\x1b[1mb\nc\td\r\x9b") == "a[1mb\nc\td"
    assert printable("a\nb\tc", one_row=True) == "abc"
    assert printable("half \ud800 a pair") == "half \ufffd a pair"
    assert printable("grüß 😀") == "grüß 😀"
    for value in (HOSTILE, {"k\x85": ["\ud800", "grüß"]}):
        text = to_json(value)
        assert_no_controls(text)
        text.encode("utf-8")  # printable: no lone surrogates left
        assert json.loads(text) == value
    assert to_json({"a": "grüß"}) == '{"a": "grüß"}'
