"""One Realtime session over trio-websocket: send queued client events, deliver server events.

The connection decides nothing: it carries JSON both ways, keeps the socket alive with
WebSocket pings, and ends with a `SessionEnded` that says why, so the daemon can
show a clear state instead of crashing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from voiced import strict_json
from voiced.exceptions import innermost
from voiced.realtime.endings import SessionEnded, explain, keep_alive, without_query
from voiced.realtime.protocol import ClientEvent, ServerEvent
from voiced.timing import RecentDurations

log = logging.getLogger("voiced.realtime")

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Outgoing:
    """A client event to send; microphone audio carries the time it was captured."""

    event: ClientEvent
    captured_at: float | None = None


async def run_session(
    url: str,
    key: str,
    *,
    timeout: float,
    outbox: trio.MemoryReceiveChannel[Outgoing],
    on_open: Callable[[], None],
    on_event: Callable[[ServerEvent], None],
    mic_to_wire: RecentDurations,
) -> None:
    """Connect to `url`, then pump `outbox` to the server and server events to `on_event`.

    Returns only by raising SessionEnded. `on_event` runs in the receiving task and must
    not block; `on_open` is called once the handshake succeeded. How long captured audio
    took to reach the socket is added to `mic_to_wire`.
    """
    headers = [(b"Authorization", f"Bearer {key}".encode())]
    try:
        async with open_websocket_url(url, extra_headers=headers, connect_timeout=timeout,
                                      disconnect_timeout=2, max_message_size=MAX_MESSAGE_BYTES) as ws:
            log.info("connected to %s", without_query(url))
            on_open()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_send_loop, ws, outbox, mic_to_wire)
                nursery.start_soon(_keep_alive, ws, timeout)
                await _receive_loop(ws, on_event)
    except BaseException as exc:
        ended = explain(innermost(exc), url)
        if ended is None:
            raise
        raise ended from None
    raise SessionEnded("session ended")


def parse_server_message(message: str | bytes) -> ServerEvent | None:
    """The server event one WebSocket message holds, or None (with a log line) when it
    holds none: not JSON, a number JSON allows but a float cannot hold (`1e400`), nesting
    too deep to parse, or not an object with a string `type`."""
    try:
        event: Any = strict_json.loads(message)
    except (ValueError, RecursionError):
        log.warning("ignoring a server message that is not JSON (%d bytes)", len(message))
        return None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        log.warning("ignoring a server message without a type")
        return None
    return event


async def _receive_loop(ws: WebSocketConnection, on_event: Callable[[ServerEvent], None]) -> None:
    while True:
        event = parse_server_message(await ws.get_message())
        if event is None:
            continue
        try:
            on_event(event)
        except SessionEnded:
            raise
        except Exception:  # a bug, or a server event shaped unlike any we know: a new session
            log.exception("could not handle a %s event; starting a new session", event["type"])
            raise SessionEnded(f"could not handle a {event['type']} event") from None


async def _send_loop(ws: WebSocketConnection, outbox: trio.MemoryReceiveChannel[Outgoing],
                     mic_to_wire: RecentDurations) -> None:
    async for outgoing in outbox:
        try:
            message = json.dumps(outgoing.event, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            log.error("not sending a %s event that is not JSON: %s", outgoing.event.get("type"), exc)
            continue
        await ws.send_message(message)
        if outgoing.captured_at is not None:
            mic_to_wire.add((time.monotonic() - outgoing.captured_at) * 1000)


async def _keep_alive(ws: WebSocketConnection, timeout: float) -> None:
    """Ping every 15 s; on a late pong, close with 1011 and end the session."""
    await keep_alive(ws.ping, timeout=timeout,
                     on_dead=lambda: ws.aclose(code=1011, reason="keep-alive timeout"))
