"""``voicectl events`` and ``voicectl wait``: clients of the daemon's event stream.

Both subscribe on one connection; the reply is a snapshot of now, then events arrive
as ``event`` notifications whose params are ``{seq, ts, type, data}``. Standard
library only, so both run on voicectl's fast path.
"""

from __future__ import annotations

import json
import sys
import time

from . import client, paths
from .request_commands import OK, daemon_error, fail, format_human, printable, to_json, unreachable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

STATES = ("connecting", "standby", "listening", "user_speaking", "thinking", "speaking", "paused", "error")
"""Every state voiced can be in (``status.state``, ``state.changed``)."""

_LAST_KEYS = ("delta", "text")  # transcripts read best at the end of the line


def clock(ts: float) -> str:
    """``HH:MM:SS.mmm`` in local time."""
    return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"


def _value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        plain = value and not any(ch.isspace() or ch in "\"'=" for ch in value)
        return value if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return ",".join(_value(item) for item in value)
    return str(value)


def _scalar(value: object) -> bool:
    return not isinstance(value, dict | list) or (
        isinstance(value, list) and all(not isinstance(item, dict | list) for item in value)
    )


def event_fields(type_: str, data: dict[str, Any]) -> list[str]:
    """``key=value`` words for one event: scalars, and one level of nested scalars."""
    if type_ == "usage.updated":
        today, last = data.get("today") or {}, data.get("last_turn") or {}
        return [
            f"responses={_value(data.get('responses'))}",
            f"last_turn.total={_value(last.get('total'))}",
            f"today.total={_value(today.get('total'))}",
            f"today.cost_usd={_value(today.get('cost_usd'))}",
        ]
    if type_ == "rate_limits.updated":
        limits = data.get("rate_limits") or []
        return [
            f"{lim.get('name')}={lim.get('remaining')}/{lim.get('limit')}"
            for lim in limits
            if isinstance(lim, dict)
        ]
    words = []
    keys = sorted(data, key=lambda key: key in _LAST_KEYS)
    for key in keys:
        value = data[key]
        if _scalar(value):
            words.append(f"{key}={_value(value)}")
        elif isinstance(value, dict):
            words += [f"{key}.{inner}={_value(item)}" for inner, item in value.items() if _scalar(item)]
    return words


def format_event(params: dict[str, Any]) -> str:
    """One event as a line for people: ``HH:MM:SS.mmm type key=value...``."""
    ts = params.get("ts")
    data = params.get("data")
    words = event_fields(str(params.get("type")), data if isinstance(data, dict) else {})
    stamp = clock(ts) if isinstance(ts, int | float) else "--:--:--.---"
    return " ".join([stamp, str(params.get("type")), *words])


def _subscribe(socket: str | None, topics: list[str]) -> tuple[client.Connection, dict[str, Any]] | int:
    """A connection with a live subscription and the snapshot it began with, or the exit
    code after saying in one line why there is none."""
    try:
        connection = client.Connection(paths.socket_path(socket))
    except paths.ConfigError as exc:
        return fail(str(exc))
    except client.DaemonUnreachable as exc:
        return unreachable(exc)
    try:
        snapshot = connection.call("subscribe", {"topics": topics})
    except client.DaemonUnreachable as exc:
        connection.close()
        return unreachable(exc)
    except client.DaemonError as exc:
        connection.close()
        return daemon_error(exc)
    except BaseException:
        connection.close()
        raise
    return connection, snapshot if isinstance(snapshot, dict) else {}


def _events(connection: client.Connection) -> Iterator[dict[str, Any]]:
    for message in connection.messages():
        params = message.get("params")
        if message.get("method") == "event" and isinstance(params, dict):
            yield params


def _write(line: str) -> None:
    sys.stdout.write(printable(line) + "\n")
    sys.stdout.flush()  # a status bar reads the pipe line by line


def run_events(
    topics: list[str], *, follow: bool = False, socket: str | None = None, as_json: bool = False
) -> int:
    """Print the snapshot, and with ``follow`` every event until Ctrl-C (exit 0) or until
    voiced goes away (exit 1). With ``as_json``: one JSON object a line, the snapshot
    first and then each notification's params."""
    topics = [topic.rstrip(".") for topic in topics]  # "state." means what "state" does
    subscribed = _subscribe(socket, topics)
    if isinstance(subscribed, int):
        return subscribed
    connection, snapshot = subscribed
    with connection:
        if as_json:
            _write(to_json(snapshot))
        elif follow:
            words = [f"{key}={_value(value)}" for key, value in snapshot.items() if _scalar(value)]
            _write(" ".join([clock(time.time()), "snapshot", *words]))
        else:
            _write(format_human(snapshot))
        if not follow:
            return OK
        connection.settimeout(None)
        try:
            for params in _events(connection):
                _write(to_json(params) if as_json else format_event(params))
        except KeyboardInterrupt:
            return OK
        except client.DaemonUnreachable as exc:
            return fail(f"lost voiced: {exc.reason}")
        return fail("voiced went away")


def run_wait(
    state: str, timeout: float | None = None, *, socket: str | None = None, as_json: bool = False
) -> int:
    """Return 0 as soon as voiced is in ``state`` (now, or after a ``state.changed``);
    1 after ``timeout`` seconds, or when voiced cannot be reached or goes away."""
    if state not in STATES:
        return fail(f"unknown state {state!r}; valid states: {', '.join(STATES)}")
    if timeout is not None and timeout < 0:
        return fail("--timeout must not be negative")
    deadline = None if timeout is None else time.monotonic() + timeout
    subscribed = _subscribe(socket, ["state.changed"])
    if isinstance(subscribed, int):
        return subscribed
    connection, snapshot = subscribed
    now = snapshot.get("state")
    with connection:
        try:
            while now != state:
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise client.ReadTimeout(connection.path, "timed out")
                    connection.settimeout(left)
                else:
                    connection.settimeout(None)
                params = next(_events(connection), None)
                if params is None:
                    return fail(f"voiced went away while waiting for state {state}")
                if params.get("type") == "state.changed":
                    now = (params.get("data") or {}).get("state", now)
        except client.ReadTimeout:
            return fail(f"timed out waiting for state {state} (now: {now})")
        except client.DaemonUnreachable as exc:
            return fail(f"lost voiced while waiting for state {state}: {exc.reason}")
    if as_json:
        _write(to_json({"state": now}))
    return OK
