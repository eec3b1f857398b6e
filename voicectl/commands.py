"""What each request command does, shared by the fast path and the typer app.

Every function here returns the process exit code and prints what the user sees:
0 done, 1 cannot reach voiced or bad usage, 2 voiced answered with an error,
3 (``status`` only) voiced is not running. Standard library only.
"""

from __future__ import annotations

import json
import sys

from . import client, paths

OK = 0
UNREACHABLE_OR_USAGE = 1
DAEMON_ERROR = 2
NOT_RUNNING = 3

# Commands that send one request and print its result (the fast path's whole menu).
SIMPLE_COMMANDS = ("status", "pause", "resume", "interrupt", "devices", "shutdown")


def fail(message: str, code: int = UNREACHABLE_OR_USAGE) -> int:
    print(f"voicectl: {message}", file=sys.stderr)
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
    print(json.dumps(result, ensure_ascii=False, indent=2 if pretty else None))


def run_request(
    method: str,
    params: dict | list | None = None,
    *,
    socket: str | None = None,
    as_json: bool = False,
    show: str = "nothing",
) -> int:
    """Send one request; ``show`` is how to print the result: nothing, human or json."""
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
        if exc.not_running:
            return fail(f"{exc} (is voiced running?)")
        return fail(str(exc))
    except client.DaemonError as exc:
        return fail(exc.message or f"error {exc.code}", DAEMON_ERROR)
    if as_json:
        _print_json(result)
    elif show == "json":
        _print_json(result, pretty=True)
    elif show == "human" and result not in (None, {}, []):
        print(format_human(result))
    return OK


def run_simple(command: str, *, socket: str | None = None, as_json: bool = False) -> int:
    """One of SIMPLE_COMMANDS: status and devices print their result, the rest are quiet."""
    show = "human" if command in ("status", "devices") else "nothing"
    return run_request(command, socket=socket, as_json=as_json, show=show)


def run_call(
    method: str, params_json: str | None, *, socket: str | None = None, as_json: bool = False
) -> int:
    """``call METHOD [JSON]``: any method, params as a JSON object or array."""
    params = None
    if params_json is not None:
        try:
            params = json.loads(params_json)
        except ValueError as exc:
            return fail(f"params are not valid JSON: {exc}")
        if not isinstance(params, dict | list):
            return fail('params must be a JSON object or array, e.g. \'{"text": "hi"}\'')
    return run_request(method, params, socket=socket, as_json=as_json, show="json")
