"""One WebSocket connection: the handshake checks, then a session driven by three tasks.

- the reader feeds each message to the :class:`~voiced.simulator.session.Session`;
- the streamer paces the active response (one per connection, only while needed);
- the writer sends the outbox in order.

Replies are queued with ``send_nowait`` on an unbounded outbox, with no checkpoint in
between, so that the order the session decided (``response.done`` after the last
delta) is the order on the wire; the writer's ``send_message`` is where a slow
client pushes back.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest

from voiced.simulator.errors import error_event
from voiced.simulator.ids import new_id
from voiced.simulator.recorder import EventRecorder
from voiced.simulator.script import Script
from voiced.simulator.session import Received, Session

log = logging.getLogger("voiced.simulator")

#: Close code of the service for a beta-shaped client.
CLOSE_BETA_REFUSED = 4000
#: Close code after refusing the API key (policy violation).
CLOSE_BAD_KEY = 1008


@dataclass(frozen=True)
class ConnectionSettings:
    """What every connection of one simulator shares."""

    recorder: EventRecorder
    script: Script | None
    api_key: str | None
    speed: float
    strict_check: Any = None


async def handle_request(request: WebSocketRequest, settings: ConnectionSettings) -> None:
    """Serve one connection to its end; nothing a client does escapes as an exception."""
    try:
        await _serve(request, settings)
    except ConnectionClosed:
        log.info("client went away")
    except Exception:
        log.exception("connection failed; the simulator goes on")


async def _serve(request: WebSocketRequest, settings: ConnectionSettings) -> None:
    url = urlsplit(request.path)
    if not url.path.rstrip("/").endswith("/realtime"):
        await request.reject(404, body=b"the Realtime API lives at /v1/realtime\n")
        return
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in request.headers}
    ws = await request.accept()
    if "realtime=v1" in headers.get("openai-beta", ""):
        await _refuse(
            ws,
            settings,
            "beta_api_shape_disabled",
            "The beta Realtime API shape is no longer supported; use the GA interface "
            "(no 'OpenAI-Beta: realtime=v1' header).",
            CLOSE_BETA_REFUSED,
        )
        return
    auth = headers.get("authorization", "")
    token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
    if not token or (settings.api_key is not None and token != settings.api_key):
        await _refuse(
            ws,
            settings,
            "invalid_api_key",
            "Incorrect API key provided." if token else "Missing bearer authentication in header.",
            CLOSE_BAD_KEY,
        )
        return
    model = parse_qs(url.query).get("model", [None])[0]
    session = Session(model=model, script=settings.script, strict_check=settings.strict_check)
    await _Connection(ws, session, settings).run()


async def _refuse(
    ws: WebSocketConnection, settings: ConnectionSettings, code: str, message: str, close: int
) -> None:
    event = error_event(new_id("event"), code, message)
    settings.recorder.record("out", "", event)
    log.info("refused a connection: %s", code)
    await ws.send_message(json.dumps(event))
    await ws.aclose(close, code)


class _Connection:
    def __init__(self, ws: WebSocketConnection, session: Session, settings: ConnectionSettings) -> None:
        self.ws = ws
        self.session = session
        self.settings = settings
        self.session_id: str = session.config["id"]
        self._outbox_in, self._outbox_out = trio.open_memory_channel[dict[str, Any]](math.inf)
        self._streaming = False

    async def run(self) -> None:
        log.info("session %s opened", self.session_id)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write)
                self._queue(self.session.open())
                await self._read(nursery)
                nursery.cancel_scope.cancel()
        finally:
            log.info("session %s closed", self.session_id)

    async def _read(self, nursery: trio.Nursery) -> None:
        while True:
            try:
                message = await self.ws.get_message()
            except ConnectionClosed:
                return
            received = self._receive(message)
            log.debug("%s <- %s", self.session_id, _kind(received.event))
            self.settings.recorder.record("in", self.session_id, received.event, received.invalid)
            self._queue(received.replies)
            if self.session.response is not None and not self._streaming:
                self._streaming = True
                nursery.start_soon(self._stream)

    def _receive(self, message: str | bytes) -> Received:
        try:
            return self.session.receive(message)
        except Exception as exc:  # a simulator bug answers like the service's own failures
            log.exception("session %s failed on a client event", self.session_id)
            reply = error_event(
                new_id("event"), "server_error", f"The simulator failed: {exc}", error_type="server_error"
            )
            return Received(message, None, [reply])

    async def _stream(self) -> None:
        try:
            while (step := self.session.stream_step()) is not None:
                self._queue(step.events)
                await trio.sleep(step.pace_s / self.settings.speed)
        finally:
            self._streaming = False

    async def _write(self) -> None:
        async for event in self._outbox_out:
            self.settings.recorder.record("out", self.session_id, event)
            log.debug("%s -> %s", self.session_id, event["type"])
            try:
                await self.ws.send_message(json.dumps(event))
            except ConnectionClosed:
                return

    def _queue(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self._outbox_in.send_nowait(event)


def _kind(event: Any) -> str:
    return str(event.get("type")) if isinstance(event, dict) else "(not a JSON object)"
