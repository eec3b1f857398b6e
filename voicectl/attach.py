"""``voicectl attach``: the live view a person keeps open in a terminal.

A client of the event stream and nothing more: one connection, subscribed to every
event, on which the typed commands are sent as requests too (their replies are
matched by id, so nothing ever blocks the screen). One thread runs a select() loop
over the terminal and the socket. curses draws the screen: it knows the terminal
(tmux, ssh, resizes) and gives the terminal back as it found it on every way out.

Layout, top to bottom: the state indicator, the transcript, the status line and the
prompt. When voiced goes away the view says so, tries again with a growing pause
(up to ``MAX_BACKOFF_S``) and says when it is back.
"""

from __future__ import annotations

import contextlib
import curses
import locale
import os
import select
import signal
import sys
import time

from . import client, paths
from .request_commands import OK, fail, printable, unreachable
from .view import COMMANDS, HELP, LiveView

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FIRST_BACKOFF_S = 0.2
MAX_BACKOFF_S = 2.0
TICK_S = 0.25
"""The longest the loop sleeps: resizes and reconnect attempts are noticed this fast."""

REQUEST_TIMEOUT_S = 5.0

COLOURS = ("green", "cyan", "yellow", "magenta", "blue", "red", "white")


class _Quit(Exception):
    """Leave the view (``/quit``, Ctrl-D, SIGTERM, SIGHUP)."""


def _connect(path: str) -> tuple[client.Connection, dict[str, Any]]:
    """A subscribed connection and its snapshot; raises DaemonUnreachable or DaemonError."""
    connection = client.Connection(path, timeout=REQUEST_TIMEOUT_S)
    try:
        snapshot = connection.call("subscribe", {"topics": []})
    except BaseException:
        connection.close()
        raise
    connection.settimeout(REQUEST_TIMEOUT_S)  # for sends; reads only happen when select says so
    return connection, snapshot if isinstance(snapshot, dict) else {}


class Attach:
    """The running view: the connection, the prompt, and the screen."""

    def __init__(
        self, screen: Any, path: str, connection: client.Connection, snapshot: dict[str, Any]
    ) -> None:
        self.screen = screen
        self.path = path
        self.view = LiveView()
        self.connection: client.Connection | None = None
        self.pending: dict[int, str] = {}  # request id -> what it was for
        self.prompt = ""
        self.cursor = 0
        self.typed: list[str] = []  # earlier prompt lines, for Up and Down
        self.recall = 0
        self.backoff = FIRST_BACKOFF_S
        self.next_attempt = 0.0
        self.colours: dict[str, int] = {}
        self.dot = "\u25cf" if locale.getpreferredencoding(False).lower().replace("-", "") == "utf8" else "*"
        self._setup_screen()
        self._connected(connection, snapshot)
        self.view.info(f"attached to voiced at {path}; /help lists the commands")

    def _setup_screen(self) -> None:
        with contextlib.suppress(curses.error):  # some terminals cannot show a cursor
            curses.curs_set(1)
        self.screen.keypad(True)
        self.screen.nodelay(True)
        if curses.has_colors():
            curses.start_color()
            try:
                curses.use_default_colors()
                background = -1
            except curses.error:
                background = curses.COLOR_BLACK
            for number, name in enumerate(COLOURS, start=1):
                curses.init_pair(number, getattr(curses, f"COLOR_{name.upper()}"), background)
                self.colours[name] = curses.color_pair(number)

    # the connection

    def _connected(self, connection: client.Connection, snapshot: dict[str, Any]) -> None:
        self.connection = connection
        self.pending.clear()
        self.backoff = FIRST_BACKOFF_S
        self.view.apply_snapshot(snapshot)
        self._request("status", None, "status:quiet")
        self._handle(connection.pending())  # events that came right behind the snapshot

    def _lost(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection = None
        self.view.state = "gone"
        self.view.info("daemon gone, reconnecting...")
        self.next_attempt = time.monotonic() + self.backoff

    def _reconnect(self) -> None:
        try:
            connection, snapshot = _connect(self.path)
        except (client.DaemonUnreachable, client.DaemonError, paths.ConfigError):
            self.backoff = min(self.backoff * 2, MAX_BACKOFF_S)
            self.next_attempt = time.monotonic() + self.backoff
            return
        self._connected(connection, snapshot)
        self.view.info("reconnected")

    def _request(self, method: str, params: dict[str, Any] | None, purpose: str | None = None) -> None:
        if self.connection is None:
            self.view.error(f"not connected to voiced: {method} not sent")
            return
        try:
            self.pending[self.connection.send_request(method, params)] = purpose or method
        except client.DaemonUnreachable:
            self._lost()

    def _handle(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            if message.get("method") == "event":
                params = message.get("params")
                if not isinstance(params, dict):
                    continue
                data, ts = params.get("data"), params.get("ts")
                self.view.apply_event(
                    str(params.get("type")),
                    data if isinstance(data, dict) else {},
                    float(ts) if isinstance(ts, int | float) else time.time(),
                )
            elif message.get("id") in self.pending:
                self._reply(self.pending.pop(message["id"]), message)

    def _reply(self, purpose: str, message: dict[str, Any]) -> None:
        try:
            result = client.result_of(message)
        except client.DaemonError as exc:
            self.view.error(f"{purpose.split(':')[0]}: {exc.message}")
            return
        result = result if isinstance(result, dict) else {}
        if purpose == "status:quiet":
            self.view.apply_status(result)
        elif purpose == "status":
            self.view.apply_status(result)
            self._print_status(result)
        elif purpose == "restart":
            self.view.conversation_id = result.get("conversation_id") or self.view.conversation_id
            self.view.info(f"new conversation {self.view.conversation_id}")
        elif purpose in ("pause", "resume"):
            self.view.info(f"{purpose}d")
        elif purpose == "interrupt":
            self.view.info("interrupted" if result.get("interrupted") else "nothing to interrupt")

    def _print_status(self, status: dict[str, Any]) -> None:
        session = status.get("session") or {}
        devices = status.get("devices") or {}
        latency = status.get("latency") or {}
        today = status.get("usage_today") or {}
        played = latency.get("first_played_ms") or {}

        def name(device: object) -> object:
            return device.get("name") if isinstance(device, dict) else device

        self.view.info(
            f"status: {status.get('state')}, conversation {status.get('conversation_id')}, "
            f"session {session.get('id')} ({'connected' if session.get('connected') else 'not connected'})"
        )
        self.view.info(f"devices: in {name(devices.get('input'))}, out {name(devices.get('output'))}")
        if isinstance(played, dict) and played:
            self.view.info(
                f"latency over {latency.get('turns')} turns: first sound p50 {played.get('p50')} ms, "
                f"p95 {played.get('p95')} ms"
            )
        cost = today.get("cost_usd")
        self.view.info(
            f"today: {today.get('total', 0)} tokens"
            + (f", ${cost:.4f}" if isinstance(cost, int | float) else "")
            + f"; uptime {status.get('uptime_s')} s"
        )

    # the prompt

    def _submit(self) -> None:
        text = self.prompt.strip()
        self.prompt, self.cursor = "", 0
        if not text:
            return
        self.typed.append(text)
        self.recall = len(self.typed)
        if text.startswith("//"):
            self._request("say", {"text": text[1:]})
        elif text.startswith("/"):
            self._command(text.split()[0].lower())
        else:
            self._request("say", {"text": text})

    def _command(self, name: str) -> None:
        if name in ("/quit", "/q", "/exit"):
            raise _Quit
        if name == "/help":
            for line in HELP:
                self.view.info(line)
        elif name in ("/restart", "/pause", "/resume", "/interrupt", "/status"):
            self._request(name[1:], None)
        elif name == "/timestamps":
            self.view.timestamps = not self.view.timestamps
            self.view.info(f"timestamps {'on' if self.view.timestamps else 'off'}")
        elif name == "/compact":
            self.view.compact = not self.view.compact
            self.view.info(f"compact {'on' if self.view.compact else 'off'}")
        else:
            self.view.error(f"unknown command {name}; the commands are {' '.join(COMMANDS)}")

    def _key(self, key: str | int) -> None:
        if key in ("\n", "\r", curses.KEY_ENTER):
            self._submit()
        elif key in ("\x7f", "\b", curses.KEY_BACKSPACE):
            if self.cursor:
                self.prompt = self.prompt[: self.cursor - 1] + self.prompt[self.cursor :]
                self.cursor -= 1
        elif key == curses.KEY_DC:
            self.prompt = self.prompt[: self.cursor] + self.prompt[self.cursor + 1 :]
        elif key == curses.KEY_LEFT:
            self.cursor = max(self.cursor - 1, 0)
        elif key == curses.KEY_RIGHT:
            self.cursor = min(self.cursor + 1, len(self.prompt))
        elif key in (curses.KEY_HOME, "\x01"):
            self.cursor = 0
        elif key in (curses.KEY_END, "\x05"):
            self.cursor = len(self.prompt)
        elif key == "\x15":  # Ctrl-U
            self.prompt, self.cursor = "", 0
        elif key == "\x04" and not self.prompt:  # Ctrl-D
            raise _Quit
        elif key in (curses.KEY_UP, curses.KEY_DOWN) and self.typed:
            step = -1 if key == curses.KEY_UP else 1
            self.recall = min(max(self.recall + step, 0), len(self.typed))
            self.prompt = self.typed[self.recall] if self.recall < len(self.typed) else ""
            self.cursor = len(self.prompt)
        elif key == "\x0c":  # Ctrl-L
            self.screen.clear()
        elif isinstance(key, str) and key.isprintable():
            self.prompt = self.prompt[: self.cursor] + key + self.prompt[self.cursor :]
            self.cursor += len(key)

    def _read_keys(self) -> None:
        while True:
            try:
                key = self.screen.get_wch()
            except curses.error:
                return  # nothing more typed
            if key == curses.KEY_RESIZE:
                curses.update_lines_cols()
                self.screen.clear()
            else:
                self._key(key)

    # the screen

    def _put(self, row: int, text: str, attr: int = 0) -> None:
        """Write one row; every row drawn from what voiced sent comes through here."""
        text = printable(text, one_row=True)
        height, width = self.screen.getmaxyx()
        if 0 <= row < height:
            # the last cell of the screen cannot be written without scrolling: stop short of it
            with contextlib.suppress(curses.error):
                last = width - 1 if row == height - 1 else width
                self.screen.addnstr(row, 0, text.ljust(width), last, attr)

    def draw(self) -> None:
        height, width = self.screen.getmaxyx()
        self.screen.erase()
        words, colour = self.view.indicator()
        flags = " ".join(
            flag
            for flag, on in (("[timestamps]", self.view.timestamps), ("[compact]", self.view.compact))
            if on
        )
        header = printable(f" {self.dot} {words} ", one_row=True)
        self._put(0, "", curses.A_REVERSE)
        try:
            self.screen.addnstr(
                0, 0, header, width, curses.A_BOLD | curses.A_REVERSE | self.colours.get(colour, 0)
            )
            tail = printable(f" {self.view.conversation_id or ''} {flags} ", one_row=True)
            if len(header) + len(tail) < width:
                self.screen.addnstr(0, width - len(tail), tail, len(tail), curses.A_REVERSE)
        except curses.error:
            pass
        styles = {
            "user": curses.A_BOLD,
            "assistant": 0,
            "info": curses.A_DIM,
            "error": self.colours.get("red", 0),
        }
        for offset, (text, kind) in enumerate(self.view.rows(width, height - 3)):
            self._put(1 + offset, text, styles[kind])
        self._put(height - 2, self.view.status_line(), curses.A_DIM)
        shown = self.prompt[-(width - 4) :] if len(self.prompt) > width - 4 else self.prompt
        self._put(height - 1, "> " + shown)
        with contextlib.suppress(curses.error):
            self.screen.move(height - 1, min(2 + self.cursor - (len(self.prompt) - len(shown)), width - 2))
        self.screen.refresh()

    def run(self) -> None:
        stdin = sys.stdin.fileno()
        while True:
            self.draw()
            timeout = TICK_S
            if self.connection is None:
                timeout = min(timeout, max(self.next_attempt - time.monotonic(), 0))
            watched = [stdin] if self.connection is None else [stdin, self.connection.fileno()]
            readable, _, _ = select.select(watched, [], [], timeout)
            if self.connection is not None and self.connection.fileno() in readable:
                try:
                    messages = self.connection.receive()
                except client.DaemonUnreachable:
                    messages = None
                if messages is None:
                    self._lost()
                else:
                    self._handle(messages)
            self._read_keys()
            if self.connection is None and time.monotonic() >= self.next_attempt:
                self._reconnect()


def _leave(signum: int, frame: object) -> None:
    raise _Quit


def run_attach(*, socket: str | None = None) -> int:
    """Open the live view on a terminal; 0 when the user leaves, 1 if voiced cannot be reached."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return fail("attach needs a terminal (for scripts: voicectl events --follow)")
    try:
        path = paths.socket_path(socket)
        connection, snapshot = _connect(path)
    except paths.ConfigError as exc:
        return fail(str(exc))
    except client.DaemonUnreachable as exc:
        return unreachable(exc)
    except client.DaemonError as exc:
        return fail(f"voiced refused to subscribe: {exc.message}", 2)
    locale.setlocale(locale.LC_ALL, "")
    os.environ.setdefault("ESCDELAY", "25")  # a lone Esc should not stall the prompt
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _leave)
    try:
        curses.wrapper(lambda screen: Attach(screen, path, connection, snapshot).run())
    except (_Quit, KeyboardInterrupt):
        pass
    finally:
        connection.close()
    return OK
