"""How a Realtime session ends, the same for the daemon (trio-websocket) and the library (anyio).

`explain` turns what a connection raised into a `SessionEnded` that says why in one
line; `keep_alive` ends a session whose link stopped answering pings; a rollover (the
server's 60-minute cap) is a 1001 close or a `session_expired` error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

import anyio
from trio_websocket import ConnectionClosed, ConnectionRejected, HandshakeError

from voiced.realtime.protocol import ServerError, ServerEvent
from voiced.realtime.websocket import HandshakeRefused, WebSocketClosed

PING_INTERVAL_S = 15.0
ROLLOVER_CODE = 1001
"""The close code of a session at its 60-minute cap (`going away`): reconnect and replay."""


@dataclass(eq=False)  # not frozen: raising sets __traceback__ (contextlib, anyio re-raise it)
class SessionEnded(Exception):
    """Why a session ended; `fatal` means retrying cannot help (a refused key, say)."""

    reason: str
    fatal: bool = False
    code: int | None = None

    def __str__(self) -> str:
        return self.reason


def is_rollover(ended: SessionEnded) -> bool:
    """Whether the server ended the session to have it continued in a new one."""
    return ended.code == ROLLOVER_CODE


def raise_if_expired(event: ServerEvent) -> None:
    """A `session_expired` error ends the session as a rollover."""
    if event.get("type") == "error" and ServerError.from_event(event).code == "session_expired":
        raise SessionEnded("session expired", code=ROLLOVER_CODE)


def explain(exc: BaseException, url: str) -> SessionEnded | None:
    """A SessionEnded for the ways a session can end; None for anything else (a bug, a cancel).

    `url` is where the session connected; its query is left out of the message."""
    where = without_query(url)
    if isinstance(exc, SessionEnded):
        return exc
    if isinstance(exc, HandshakeRefused | ConnectionRejected):
        return SessionEnded(f"{where} refused the connection (HTTP {exc.status_code})",
                            fatal=exc.status_code in (401, 403))
    if isinstance(exc, HandshakeError):
        return SessionEnded(f"cannot connect to {where}: {str(exc) or type(exc).__name__}")
    if isinstance(exc, WebSocketClosed):
        return _closed_by_server(exc.code, exc.reason)
    if isinstance(exc, ConnectionClosed):
        if exc.reason is None:
            return _closed_by_server(None, None)
        return _closed_by_server(exc.reason.code, exc.reason.reason)
    if isinstance(exc, OSError):  # TimeoutError too
        return SessionEnded(f"cannot connect to {where}: {exc.strerror or str(exc) or type(exc).__name__}")
    return None


def without_query(url: str) -> str:
    """`url` without its query (which names the model, nothing secret, but is noise in a message)."""
    return url.split("?", 1)[0]


def _closed_by_server(code: int | None, reason: str | None) -> SessionEnded:
    return SessionEnded(f"server closed the session ({code}{': ' + reason if reason else ''})", code=code)


async def keep_alive(ping: Callable[[], Awaitable[object]], *, timeout: float,
                     on_dead: Callable[[], Awaitable[object]] | None = None) -> NoReturn:
    """Ping every 15 s; a pong later than `timeout` means the link is dead: await
    `on_dead` (if given), then raise SessionEnded."""
    while True:
        await anyio.sleep(PING_INTERVAL_S)
        with anyio.move_on_after(timeout) as scope:
            await ping()
        if scope.cancelled_caught:
            if on_dead is not None:
                await on_dead()
            raise SessionEnded(f"no pong within {timeout:g} s")
