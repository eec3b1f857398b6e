"""``voicectl attach`` as a person sees it: run in tmux, typed at, its screen read back.

Each test runs a real voiced and the simulator; the view runs in a private tmux server
with a fixed size, and the tests poll ``capture-pane`` for what should appear.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.processes import wait_for

from .conftest import Tmux, Voiced

VOICECTL = Path(sys.executable).parent / "voicectl"
ANSWER = (
    "Hello to you, friend. Here is an answer long enough to wrap on a terminal that is ninety columns wide."
)
SCRIPT = {
    "turns": [
        {"response": {"text": ANSWER, "audio": {"tone_s": 2.0}}},
        {"response": {"text": "A long story begins, and goes on.", "audio": {"tone_s": 8.0}}},
        {"response": {"text": "Short answer.", "audio": {"tone_s": 0.5}}},
    ]
}
COMMANDS = (
    "/quit",
    "/help",
    "/restart",
    "/pause",
    "/resume",
    "/interrupt",
    "/status",
    "/timestamps",
    "/compact",
)


def attach(tmux: Tmux, voiced: Voiced, width: int = 90, height: int = 30) -> None:
    tmux.start(f"{VOICECTL} --socket {voiced.socket} attach", width, height)
    tmux.wait_text("attached to voiced")


def header_says(state: str) -> Callable[[list[str]], bool]:
    return lambda rows: bool(rows) and f"\u25cf {state} " in rows[0]


def exited(tmux: Tmux, code: int) -> list[str]:
    """The view has ended with ``code`` and left the terminal in its usual mode."""
    def restored(rows: list[str]) -> bool:
        shown = [row.strip() for row in rows]
        return any(f"exited {code}" in row for row in rows) and "echo" in shown and "icanon" in shown

    return tmux.wait_for(restored, f"exit {code} with the terminal restored (echo, icanon)")


def test_the_view_follows_a_typed_turn(tmux: Tmux, start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced(SCRIPT)
    attach(tmux, voiced)
    tmux.wait_for(header_says("listening"), "the listening indicator")
    assert voiced.daemon.status()["conversation_id"] in tmux.screen()[0]

    tmux.type("hello there")
    tmux.wait_for(header_says("speaking"), "the speaking indicator")
    rows = tmux.wait_text("you: hello there")
    tmux.wait_text("assistant: Hello to you, friend.")
    rows = tmux.wait_for(header_says("listening"), "listening again after the answer")
    text = "\n".join(rows)
    assert "on a terminal that is ninety" in text.replace("\n           ", " ")
    assert re.search(r"last turn: first sound after \d+ ms \| today: \d+ tokens, \$\d\.\d{4}", rows[-2])
    assert rows[-1].startswith(">")


def test_timestamps_compact_help_and_quit(tmux: Tmux, start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced(SCRIPT)
    attach(tmux, voiced)
    tmux.type("hello there")
    tmux.wait_text("ninety")
    tmux.wait_for(header_says("listening"), "the end of the answer")

    tmux.type("/timestamps")
    rows = tmux.wait_text("timestamps on")
    assert any(re.match(r"\d\d:\d\d:\d\d you: hello there", row) for row in rows)
    assert "[timestamps]" in rows[0]
    tmux.type("/timestamps")
    tmux.wait_text("timestamps off")

    tmux.type("/compact")
    rows = tmux.wait_text("compact on")
    assert "> hello there" in rows
    answer = next(row for row in rows if row.startswith("< Hello to you"))
    assert len(answer) <= 90 and answer.endswith("~"), "a compact line is one row"
    assert "[compact]" in rows[0]
    tmux.type("/compact")
    tmux.wait_text("compact off")

    tmux.type("/help")
    rows = tmux.wait_text("/quit")
    for command in COMMANDS:
        assert any(command in row for row in rows), command

    tmux.type("/bogus")
    tmux.wait_text("unknown command /bogus")
    tmux.type("/quit")
    exited(tmux, 0)


def test_pause_resume_status_and_restart(tmux: Tmux, start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced(SCRIPT)
    attach(tmux, voiced)
    tmux.type("/pause")
    tmux.wait_for(header_says("paused"), "the paused indicator")
    assert voiced.daemon.status()["state"] == "paused"
    tmux.type("/resume")
    tmux.wait_for(header_says("listening"), "listening after /resume")
    assert voiced.daemon.status()["state"] == "listening"

    before = voiced.daemon.status()["conversation_id"]
    tmux.type("/status")
    tmux.wait_text(f"status: listening, conversation {before}")
    tmux.wait_text("devices: in ")

    tmux.type("/restart")
    after = wait_for(
        lambda: (cid := voiced.daemon.status()["conversation_id"]) != before and cid, 10, "a new conversation"
    )
    tmux.wait_text(f"new conversation {after}")
    tmux.wait_for(lambda rows: after in rows[0], "the new conversation in the header")


def test_interrupt_cuts_a_long_answer(tmux: Tmux, start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced({"turns": SCRIPT["turns"][1:]})
    attach(tmux, voiced)
    tmux.type("tell me a story")
    tmux.wait_for(header_says("speaking"), "the long answer playing")
    tmux.type("/interrupt")
    tmux.wait_text("[interrupted after")
    tmux.wait_for(header_says("listening"), "listening after the interruption", timeout=3)
    assert voiced.daemon.status()["counts"]["interruptions"] == 1


def test_the_view_survives_a_daemon_restart(tmux: Tmux, start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced(SCRIPT)
    attach(tmux, voiced)
    tmux.wait_for(header_says("listening"), "the listening indicator")
    voiced.daemon.terminate()
    tmux.wait_text("daemon gone, reconnecting...")
    tmux.wait_for(header_says("daemon gone"), "the gone indicator")
    voiced.restart_daemon()
    tmux.wait_text("reconnected")
    tmux.wait_for(header_says("listening"), "the new daemon's state")
    assert voiced.daemon.status()["conversation_id"] in tmux.screen()[0]
    tmux.type("hello again")
    tmux.wait_text("assistant: Hello to you, friend.")


def test_ctrl_c_leaves_cleanly(tmux: Tmux, start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced()
    attach(tmux, voiced)
    tmux.keys("C-c")
    exited(tmux, 0)


def test_attach_without_a_daemon_says_so(tmux: Tmux, start_voiced: Callable[..., Voiced]) -> None:
    voiced = start_voiced()
    voiced.daemon.terminate()
    tmux.start(f"{VOICECTL} --socket {voiced.socket} attach")
    rows = exited(tmux, 1)
    assert any(row.startswith("voicectl: cannot reach voiced at") for row in rows)
