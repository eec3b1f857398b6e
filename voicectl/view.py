"""What ``voicectl attach`` shows, kept apart from the terminal: fed events, renders rows.

``LiveView`` folds the daemon's snapshot, events and replies into the state, the
transcript lines and the status line; ``rows`` lays the transcript out for a given
width and height. No curses and no sockets here, so the layout is plain to test.
"""

from __future__ import annotations

import textwrap
import time
from dataclasses import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_LINES = 2000
"""Transcript lines kept; older ones scroll away for good."""

STATE_LOOK = {
    # state: (what the indicator says, colour name)
    "connecting": ("connecting", "yellow"),
    "standby": ("standby", "blue"),
    "listening": ("listening", "green"),
    "user_speaking": ("you are speaking", "cyan"),
    "thinking": ("thinking", "yellow"),
    "speaking": ("speaking", "magenta"),
    "paused": ("paused", "blue"),
    "error": ("error", "red"),
    "gone": ("daemon gone", "red"),
}

HELP = (
    "type a line and press Enter to say it (start it with // to say something that begins with /)",
    "/pause /resume       stop and start listening",
    "/interrupt           cut the assistant off",
    "/restart             start a new conversation",
    "/status              print voiced's status here",
    "/timestamps          show or hide the time on each line",
    "/compact             one row per line, no labels or gaps",
    "/help                this list",
    "/quit                leave (so do Ctrl-C and Ctrl-D on an empty prompt)",
)
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


@dataclass
class Line:
    """One transcript line (a user or assistant turn) or a note from voicectl itself."""

    kind: str  # "user", "assistant", "info" or "error"
    text: str
    ts: float
    item_id: str | None = None
    streaming: bool = False
    interrupted: bool = False
    played_ms: float | None = None


@dataclass
class LiveView:
    """The state of the live view; every method changes it and nothing else."""

    state: str = "connecting"
    conversation_id: str | None = None
    timestamps: bool = False
    compact: bool = False
    last_latency_ms: float | None = None
    latency_label: str = "last turn"
    tokens_today: int | None = None
    cost_today: float | None = None
    lines: list[Line] = field(default_factory=list)

    # notes from voicectl itself

    def info(self, text: str) -> None:
        self._add(Line("info", text, time.time()))

    def error(self, text: str) -> None:
        self._add(Line("error", text, time.time()))

    def _add(self, line: Line) -> Line:
        self.lines.append(line)
        del self.lines[:-MAX_LINES]
        return line

    # from the daemon

    def apply_snapshot(self, snapshot: dict[str, Any]) -> None:
        self.state = str(snapshot.get("state") or self.state)
        self.conversation_id = snapshot.get("conversation_id") or self.conversation_id
        for line in self.lines:
            line.streaming = False  # whatever was streaming when the connection went is over

    def apply_status(self, status: dict[str, Any]) -> None:
        self.state = str(status.get("state") or self.state)
        self.conversation_id = status.get("conversation_id") or self.conversation_id
        today = status.get("usage_today") or {}
        self._usage_today(today)
        played = (status.get("latency") or {}).get("first_played_ms")
        if isinstance(played, dict) and self.last_latency_ms is None:
            self.last_latency_ms, self.latency_label = played.get("p50"), "p50"

    def _usage_today(self, today: dict[str, Any]) -> None:
        if isinstance(today.get("total"), int):
            self.tokens_today = today["total"]
        if isinstance(today.get("cost_usd"), int | float):
            self.cost_today = today["cost_usd"]

    def _turn(self, kind: str, item_id: object, ts: float) -> Line:
        """The line of this item, made (and streaming) if it is new."""
        for line in reversed(self.lines):
            if line.item_id == item_id and line.kind == kind:
                return line
        return self._add(Line(kind, "", ts, str(item_id) if item_id else None, streaming=True))

    def apply_event(self, type_: str, data: dict[str, Any], ts: float) -> None:
        item = data.get("item_id")
        if type_ == "state.changed":
            self.state = str(data.get("state") or self.state)
        elif type_ == "user.speech.started":
            self._turn("user", item, ts)
        elif type_ in ("user.transcript.delta", "assistant.transcript.delta"):
            line = self._turn(type_.split(".")[0], item, ts)
            line.text += str(data.get("delta") or "")
            line.streaming = True
        elif type_ in ("user.transcript.completed", "assistant.transcript.completed"):
            line = self._turn(type_.split(".")[0], item, ts)
            line.text, line.streaming = str(data.get("text") or line.text), False
            line.interrupted = line.interrupted or bool(data.get("interrupted"))
        elif type_ == "user.transcript.failed":
            line = self._turn("user", item, ts)
            line.text, line.streaming = line.text or "(not transcribed)", False
        elif type_ == "assistant.interrupted":
            line = self._turn("assistant", item, ts)
            line.interrupted, line.played_ms = True, data.get("played_ms")
        elif type_ == "assistant.response.done":
            played = (data.get("latency") or {}).get("first_played_ms")
            if isinstance(played, int | float):
                self.last_latency_ms, self.latency_label = played, "last turn"
        elif type_ == "usage.updated":
            self._usage_today(data.get("today") or {})
        elif type_ == "session.disconnected" and data.get("fatal"):
            self.error(f"session ended: {data.get('reason')}")
        elif type_ in ("error", "plugin.failed"):
            self.error(str(data.get("message") or data.get("error") or type_))
        elif type_ == "events.dropped":
            self.info(f"({data.get('count')} events were dropped: this view fell behind)")

    # layout

    def indicator(self) -> tuple[str, str]:
        """The state as (words, colour name)."""
        return STATE_LOOK.get(self.state, (self.state.replace("_", " "), "white"))

    def status_line(self) -> str:
        parts = []
        if self.last_latency_ms is not None:
            parts.append(f"{self.latency_label}: first sound after {self.last_latency_ms:.0f} ms")
        if self.tokens_today is not None:
            cost = f", ${self.cost_today:.4f}" if self.cost_today is not None else ""
            parts.append(f"today: {self.tokens_today} tokens{cost}")
        parts.append("/help")
        return " | ".join(parts)

    def _prefix(self, line: Line) -> str:
        stamp = time.strftime("%H:%M:%S ", time.localtime(line.ts)) if self.timestamps else ""
        if self.compact:
            label = {"user": "> ", "assistant": "< ", "info": "- ", "error": "! "}[line.kind]
        else:
            label = {"user": "you: ", "assistant": "assistant: ", "info": "-- ", "error": "!! "}[line.kind]
        return stamp + label

    def _body(self, line: Line) -> str:
        text = line.text
        if line.kind == "user" and not text:
            text = "..." if line.streaming else "(speech)"
        if line.streaming and line.kind == "assistant":
            text += " ..."
        if line.interrupted:
            heard = f" after {line.played_ms / 1000:.1f} s" if isinstance(line.played_ms, int | float) else ""
            text += f" [interrupted{heard}]"
        return text

    def rows(self, width: int, height: int) -> list[tuple[str, str]]:
        """The last ``height`` rows of the transcript as (text, kind), each at most ``width`` wide."""
        width = max(width, 10)
        rows: list[tuple[str, str]] = []
        for index, line in enumerate(self.lines):
            prefix, body = self._prefix(line), self._body(line)
            if self.compact:
                text = " ".join((prefix + body).split())
                rows.append((text if len(text) <= width else text[: width - 1] + "~", line.kind))
                continue
            if line.kind == "user" and index > 0:
                rows.append(("", "info"))  # a gap before each exchange
            wrapped = textwrap.wrap(body, max(width - len(prefix), 10)) or [""]
            rows.append((prefix + wrapped[0], line.kind))
            rows += [(" " * len(prefix) + rest, line.kind) for rest in wrapped[1:]]
        return rows[-height:] if height > 0 else []
