"""The request commands (status, pause, say, call...): send voiced one request, print its answer.

Shared by the fast path and the typer app, so both behave the same. Every function here
returns the process exit code and prints what the user sees: 0 done, 1 cannot reach
voiced or bad usage, 2 voiced answered with an error, 3 (``status`` only) voiced is not
running. Standard library only.

What voiced sends (and, through it, what the model says) is printed only through
``printable`` or ``to_json``, so an escape sequence in a transcript cannot drive the
terminal.
"""

from __future__ import annotations

import json
import sys

from . import client, paths

TYPE_CHECKING = False  # typing itself costs start-up time on the fast path
if TYPE_CHECKING:
    from typing import Any

OK = 0
UNREACHABLE_OR_USAGE = 1
DAEMON_ERROR = 2
NOT_RUNNING = 3

# Commands that send one request without params, in the order ``voicectl --help`` lists
# them: how the result is shown (see run_request) and the help line. The typer app
# registers one command per entry, the fast path runs them all.
SIMPLE_COMMANDS: dict[str, tuple[str, str]] = {
    "status": ("human", "Show what voiced is doing (exit 3 when it is not running)."),
    "pause": ("nothing", "Stop listening and speaking until resume."),
    "resume": ("nothing", "Listen again after pause."),
    "interrupt": ("nothing", "Cut the assistant off mid-answer."),
    "devices": ("human", "List the audio devices voiced can use."),
    "shutdown": ("nothing", "Stop voiced."),
    "restart": ("nothing", "Start a new conversation (what was said is forgotten)."),
    "wake": ("nothing", "Leave standby and listen, as a wake word would."),
    "sleep": ("nothing", "Go to standby (wake-word mode)."),
    "plugins": ("human", "List the plugins and whether each loaded."),
    "usage": ("usage", "Tokens and estimated cost: last turn, this conversation, today."),
    "tools": ("tools", "List every tool the model sees, its source (plugin or MCP server) and status."),
    "approve": ("human", "Run the tool call waiting for the user's yes (as if they said yes)."),
}


_CONTROLS = [*range(0x20), *range(0x7F, 0xA0)]  # C0, DEL and C1: what escape sequences are made of
_SURROGATES = range(0xD800, 0xE000)  # lone halves that JSON can carry but no terminal can print
_IN_A_ROW: dict[int, str | None] = {**dict.fromkeys(_CONTROLS), **dict.fromkeys(_SURROGATES, "\ufffd")}
_IN_LINES = {char: to for char, to in _IN_A_ROW.items() if chr(char) not in "\n\t"}
_JSON_ESCAPES = {char: f"\\u{char:04x}" for char in [*range(0x7F, 0xA0), *_SURROGATES]}


def printable(text: str, *, one_row: bool = False) -> str:
    """``text`` without control characters (newlines and tabs stay unless ``one_row``)."""
    return text.translate(_IN_A_ROW if one_row else _IN_LINES)


def to_json(value: object, *, pretty: bool = False) -> str:
    """``value`` as JSON, non-ASCII text as it is but every control character escaped
    (json itself escapes only those below 0x20), so the data is whole and prints safely."""
    return json.dumps(value, ensure_ascii=False, indent=2 if pretty else None).translate(_JSON_ESCAPES)


def fail(message: str, code: int = UNREACHABLE_OR_USAGE) -> int:
    print(f"voicectl: {printable(message, one_row=True)}", file=sys.stderr)
    return code


def _format_value(key: str, value: object) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None:
        return "-"
    if isinstance(value, int | float) and (key == "uptime" or key.startswith("uptime_")):
        return _format_duration(float(value))
    return str(value)


def _format_duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _flatten(value: object, prefix: str = "") -> list[tuple[str, str]]:
    """Nested results as ``a.b: value`` rows; lists of scalars joined with commas."""
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            rows += _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        if not rows and prefix:
            return [(prefix, "-")]
        return rows
    if isinstance(value, list):
        if all(not isinstance(item, dict | list) for item in value):
            return [(prefix, ", ".join(_format_value("", item) for item in value) or "-")]
        rows = []
        for index, item in enumerate(value):
            rows += _flatten(item, f"{prefix}[{index}]")
        return rows
    leaf = prefix.rsplit(".", 1)[-1]
    if leaf.startswith("uptime") and isinstance(value, int | float):
        prefix = prefix.removesuffix("_s")  # shown as a duration, so the unit goes
    return [(prefix or "result", _format_value(leaf, value))]


def format_human(result: object) -> str:
    """A result as aligned ``key: value`` lines, for people rather than scripts."""
    rows = _flatten(result)
    width = max((len(key) for key, _ in rows), default=0)
    return "\n".join(f"{key + ':':<{width + 1}} {value}" for key, value in rows)


def _print_json(result: object, *, pretty: bool = False) -> None:
    print(to_json(result, pretty=pretty))


def unreachable(exc: client.DaemonUnreachable) -> int:
    """The one line (and exit 1) for a daemon that cannot be reached."""
    if exc.not_running:
        return fail(f"{exc} (is voiced running?)")
    return fail(str(exc))


def daemon_error(exc: client.DaemonError) -> int:
    return fail(exc.message or f"error {exc.code}", DAEMON_ERROR)


def run_request(
    method: str,
    params: dict[str, Any] | list[Any] | None = None,
    *,
    socket: str | None = None,
    as_json: bool = False,
    show: str = "nothing",
) -> int:
    """Send one request; ``show`` is how to print the result: nothing, human, json or usage."""
    try:
        path = paths.socket_path(socket)
    except paths.ConfigError as exc:
        return fail(str(exc))
    try:
        result = client.request(path, method, params)
    except client.DaemonUnreachable as exc:
        if method == "status" and exc.not_running:
            print(f"voiced is not running ({exc.reason} at {path})", file=sys.stderr)
            return NOT_RUNNING
        return unreachable(exc)
    except client.DaemonError as exc:
        return daemon_error(exc)
    if as_json:
        _print_json(result)
    elif show == "json":
        _print_json(result, pretty=True)
    elif show == "usage" and isinstance(result, dict):
        print(printable(format_usage(result)))
    elif show == "tools" and isinstance(result, dict):
        print(printable(format_tools(result)))
    elif show in ("human", "usage") and result not in (None, {}, []):
        print(printable(format_human(result)))
    return OK


def format_tools(result: dict[str, Any]) -> str:
    """`tools` as a table: each tool the model sees, then each MCP server, then the call
    waiting for a yes."""
    rows = []
    for tool in result.get("tools") or []:
        source = f"{tool.get('source')}:{tool['server']}" if tool.get("server") else str(tool.get("source"))
        status = str(tool.get("status")) + (", needs a yes" if tool.get("confirm") else "")
        rows.append((str(tool.get("name")), source, status))
    widths = [max((len(row[i]) for row in rows), default=0) for i in (0, 1)]
    lines = [f"{name:<{widths[0]}}  {source:<{widths[1]}}  {status}" for name, source, status in rows]
    for server in result.get("servers") or []:
        error = f": {server['error']}" if server.get("error") else ""
        lines.append(f"server {server.get('name')}: {server.get('state')}{error} "
                     f"({server.get('tools')} tools, {server.get('failures')} failures)")
    if waiting := result.get("awaiting_confirmation"):
        lines.append(f"waiting for a yes: {waiting.get('name')} {waiting.get('arguments')}")
    return "\n".join(lines) or "no tools"


def run_simple(command: str, *, socket: str | None = None, as_json: bool = False) -> int:
    """One of SIMPLE_COMMANDS: status, devices and plugins print their result, usage a table,
    the rest are quiet."""
    show = SIMPLE_COMMANDS[command][0]
    return run_request(command, socket=socket, as_json=as_json, show=show)


def run_say(words: list[str], *, socket: str | None = None, as_json: bool = False) -> int:
    """``say TEXT...``: a typed user turn; the words are joined with spaces."""
    text = " ".join(words).strip()
    if not text:
        return fail("say needs some text, e.g. voicectl say what time is it")
    return run_request("say", {"text": text}, socket=socket, as_json=as_json)


def run_announce(words: list[str], *, socket: str | None = None, as_json: bool = False) -> int:
    """``announce TEXT...``: the assistant says the text (woken for it from standby)."""
    text = " ".join(words).strip()
    if not text:
        return fail("announce needs some text, e.g. voicectl announce dinner is ready")
    return run_request("announce", {"text": text}, socket=socket, as_json=as_json)


VOLUMES = range(101)


def run_volume(level: int | None, *, socket: str | None = None, as_json: bool = False) -> int:
    """``volume [LEVEL]``: print the output volume (0-100), or set it."""
    if level is not None and level not in VOLUMES:
        return fail(f"volume must be 0-100, not {level}")
    params = None if level is None else {"level": level}
    return run_request("volume", params, socket=socket, as_json=as_json, show="human")


def run_history(
    words: list[str], limit: int | None = None, *, socket: str | None = None, as_json: bool = False
) -> int:
    """``history [QUERY]``: past turns (the history plugin's method), newest last."""
    params: dict[str, object] = {}
    if words:
        params["query"] = " ".join(words)
    if limit is not None:
        params["limit"] = limit
    return run_request("history", params or None, socket=socket, as_json=as_json, show="human")


TALK_ACTIONS = ("start", "stop")


def run_talk(
    action: str | None, seconds: float | None = None, *, socket: str | None = None, as_json: bool = False
) -> int:
    """Push-to-talk. ``start``/``stop`` send one request; ``--for S`` starts a turn that
    the daemon ends after S seconds (voicectl returns at once). With neither, hold to
    talk: start, wait for Enter (or Ctrl-C, or the end of stdin), then stop."""
    if action is not None and action not in TALK_ACTIONS:
        return fail(f"talk takes start or stop, not {action!r}")
    if seconds is not None and action == "stop":
        return fail("--for goes with talk start, not talk stop")
    if action is not None or seconds is not None:
        params: dict[str, object] = {"action": action or "start"}
        if seconds is not None:
            params["seconds"] = seconds
        return run_request("talk", params, socket=socket, as_json=as_json)
    code = run_request("talk", {"action": "start"}, socket=socket)
    if code != OK:
        return code
    if sys.stdin.isatty():
        print("talking... press Enter to stop", file=sys.stderr, flush=True)
    try:
        sys.stdin.readline()
    except KeyboardInterrupt:
        pass
    finally:
        code = run_request("talk", {"action": "stop"}, socket=socket, as_json=as_json)
    return code


def _cost(value: object) -> str:
    return f"${value:.4f}" if isinstance(value, int | float) else "-"


def format_usage(usage: dict[str, Any]) -> str:
    """The ``usage`` result as a small table: tokens and cost per turn, conversation, day."""
    rows: list[tuple[str, ...]] = [("", "input", "cached", "output", "total", "cost")]
    for key, label in (("last_turn", "last turn"), ("conversation", "conversation"), ("today", "today")):
        tokens = usage.get(key) or {}
        cached = int(tokens.get("text_cached_input") or 0) + int(tokens.get("audio_cached_input") or 0)
        counts = (tokens.get("input", 0), cached, tokens.get("output", 0), tokens.get("total", 0))
        rows.append((label, *(str(count) for count in counts), _cost(tokens.get("cost_usd"))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            [
                row[0].ljust(widths[0]),
                *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)),
            ]
        )
        for row in rows
    ]
    model = usage.get("model", "?")
    day = (usage.get("today") or {}).get("date", "?")
    notes = [f"model {model}, {usage.get('responses', 0)} responses, today is {day}"]
    if not usage.get("priced", True):
        notes.append(f"no prices for {model}: cost not estimated")
    budget = usage.get("budget_daily_usd")
    today_cost = (usage.get("today") or {}).get("cost_usd")
    if isinstance(budget, int | float) and budget > 0:
        used = f", {today_cost / budget:.0%} used" if isinstance(today_cost, int | float) else ""
        notes.append(f"budget ${budget:.2f} a day{used}")
    limits = usage.get("rate_limits") or []
    if isinstance(limits, list) and limits:
        shown = [
            f"{lim.get('name')} {lim.get('remaining')}/{lim.get('limit')}"
            for lim in limits
            if isinstance(lim, dict)
        ]
        notes.append("rate limits: " + ", ".join(shown))
    return "\n".join([*(line.rstrip() for line in lines), *notes])


def run_call(
    method: str, params_json: str | None, *, socket: str | None = None, as_json: bool = False
) -> int:
    """``call METHOD [JSON]``: any method, params as a JSON object or array."""
    params: dict[str, Any] | list[Any] | None = None
    if params_json is not None:
        try:
            params = json.loads(params_json)
        except ValueError as exc:
            return fail(f"params are not valid JSON: {exc}")
        if not isinstance(params, dict | list):
            return fail('params must be a JSON object or array, e.g. \'{"text": "hi"}\'')
    return run_request(method, params, socket=socket, as_json=as_json, show="json")
