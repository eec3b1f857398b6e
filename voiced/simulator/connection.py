"""One WebSocket connection: the handshake checks, then a session driven by a few tasks.

- the reader feeds each message to the :class:`~voiced.simulator.session.Session`;
- the streamer paces the active response (one per connection, only while needed);
- the writer sends the outbox in order, and carries out the faults queued in it
  (a ``bad_delta`` is armed there and spoils the next audio delta it sends; a
  ``tool_call`` starts its response there);
- timers: the session cap (1001 "maximum duration"), faults due at a time, late
  transcriptions.

Replies are queued with ``send_nowait`` on an unbounded outbox, with no checkpoint in
between, so that the order the session decided (``response.done`` after the last
delta) is the order on the wire; the writer's ``send_message`` is where a slow
client pushes back. A fault triggered by an event is queued right after it, so
"after the 3rd delta" means after the 3rd delta went out.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trio
import wsproto.events
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest

from voiced.simulator.errors import error_event
from voiced.simulator.faults import (
    CLOSE_AFTER_FATAL,
    FATAL_ERROR_CODES,
    MALFORMED_BINARY,
    MALFORMED_TEXT,
    Fault,
    FaultBook,
    FaultWatch,
)
from voiced.simulator.hostile import bad_deltas, hostile_call
from voiced.simulator.ids import new_id
from voiced.simulator.recorder import EventRecorder
from voiced.simulator.script import Script
from voiced.simulator.session import Later, Received, Session

log = logging.getLogger("voiced.simulator")

#: Close code of the service for a beta-shaped client.
CLOSE_BETA_REFUSED = 4000
#: Close code after refusing the API key (policy violation).
CLOSE_BAD_KEY = 1008
#: The service's close at its session cap.
CLOSE_MAX_DURATION = 1001
MAX_DURATION_REASON = "maximum duration"
#: The real cap of a session.
DEFAULT_MAX_SESSION_S = 3600.0
#: How long a close waits for the client's close frame before it closes the TCP connection.
CLOSE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class ConnectionSettings:
    """What every connection of one simulator shares."""

    recorder: EventRecorder
    script: Script | None
    api_key: str | None
    speed: float
    strict_check: Any = None
    faults: FaultBook = field(default_factory=FaultBook)
    max_session_s: float = DEFAULT_MAX_SESSION_S
    session_ids: bool = True


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
    if settings.faults.refuse_handshake():
        settings.recorder.record("sim", "", {"type": "sim.refused", "status": 503})
        log.info("refused a handshake with 503 (fault injection)")
        await request.reject(503, body=b"the simulator was told to refuse this connection\n")
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
    session = Session(model=model, script=settings.script, strict_check=settings.strict_check,
                      session_ids=settings.session_ids)
    await _Connection(ws, session, settings, settings.faults.watch()).run()


async def _refuse(
    ws: WebSocketConnection, settings: ConnectionSettings, code: str, message: str, close: int
) -> None:
    event = error_event(new_id("event"), code, message)
    settings.recorder.record("out", "", event)
    log.info("refused a connection: %s", code)
    await ws.send_message(json.dumps(event))
    await ws.aclose(close, code)


class _Connection:
    def __init__(
        self, ws: WebSocketConnection, session: Session, settings: ConnectionSettings, faults: FaultWatch
    ) -> None:
        self.ws = ws
        self.session = session
        self.settings = settings
        self.faults = faults
        self.session_id: str = session.config["id"]
        self._outbox_in, self._outbox_out = trio.open_memory_channel[dict[str, Any] | Fault](math.inf)
        self._streaming = False
        # Held around every frame the writer sends, so that a close never cuts one in half.
        self._send_lock = trio.Lock()
        self._ended = False
        self._stalled = False
        #: A bad_delta fault waiting for the next audio delta to spoil.
        self._bad_delta: Fault | None = None

    async def run(self) -> None:
        log.info("session %s opened", self.session_id)
        self._suppress_pongs_while_stalled()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write, nursery)
                nursery.start_soon(self._expire)
                for at_s, index in self.faults.timed:
                    nursery.start_soon(self._fault_at, at_s, index)
                self._queue(self.session.open())
                await self._read(nursery)
                nursery.cancel_scope.cancel()
        finally:
            # The last record of every session: a reader of the log knows nothing more will come.
            self.settings.recorder.record("sim", self.session_id, {"type": "sim.ended"})
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
            for later in received.later:
                nursery.start_soon(self._send_later, later)
            if received.invalid is None:
                self._queue_faults(self.faults.received(_kind(received.event)))
            self._stream_if_needed(nursery)

    def _stream_if_needed(self, nursery: trio.Nursery) -> None:
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

    async def _send_later(self, later: Later) -> None:
        await trio.sleep(later.delay_s)
        self._queue(later.events)

    async def _fault_at(self, at_s: float, index: int) -> None:
        await trio.sleep(at_s)
        fault = self.faults.fire(index)
        if fault is not None:
            self._outbox_in.send_nowait(fault)

    async def _expire(self) -> None:
        """The session cap: nothing more is sent, then a close with 1001, as the service does."""
        await trio.sleep(self.settings.max_session_s)
        log.info("session %s reached its maximum duration", self.session_id)
        await self._close(CLOSE_MAX_DURATION, MAX_DURATION_REASON)

    async def _write(self, nursery: trio.Nursery) -> None:
        async for entry in self._outbox_out:
            if isinstance(entry, Fault):
                await self._inject(entry, nursery)
            elif self._bad_delta is not None and entry["type"] == "response.output_audio.delta":
                fault, self._bad_delta = self._bad_delta, None
                for event in bad_deltas(fault, entry):
                    await self._send(event)
            else:
                await self._send(entry)
            if self._ended:
                return

    async def _send(self, event: dict[str, Any]) -> None:
        async with self._send_lock:
            if self._ended:
                return
            self.settings.recorder.record("out", self.session_id, event)
            log.debug("%s -> %s", self.session_id, event["type"])
            try:
                await self.ws.send_message(json.dumps(event))
            except ConnectionClosed:
                self._ended = True

    async def _send_frame(self, frame: str | bytes) -> None:
        async with self._send_lock:
            if self._ended:
                return
            try:
                await self.ws.send_message(frame)
            except ConnectionClosed:
                self._ended = True

    # -- faults -------------------------------------------------------------------------

    async def _inject(self, fault: Fault, nursery: trio.Nursery) -> None:
        log.info("session %s: injecting %s", self.session_id, fault.describe())
        self.settings.recorder.record("sim", self.session_id, {"type": "sim.fault", **fault.describe()})
        if fault.action == "drop":
            await self._drop()
        elif fault.action == "close":
            await self._close(fault.close_code, fault.reason or "")
        elif fault.action == "error":
            code = fault.error_code
            message = fault.message or f"The simulator was told to fail with {code}."
            kind = "server_error" if code == "server_error" else "invalid_request_error"
            await self._send(error_event(new_id("event"), code, message, error_type=kind))
            if code in FATAL_ERROR_CODES:
                await self._close(CLOSE_AFTER_FATAL, code)
        elif fault.action == "malformed":
            frames: dict[str, str | bytes] = {
                "text": MALFORMED_TEXT,
                "no_type": json.dumps({"event_id": new_id("event"), "note": "an event without a type"}),
                "binary": MALFORMED_BINARY,
            }
            await self._send_frame(frames[fault.frame])
        elif fault.action == "stall":
            async with self._send_lock:
                self._stalled = True
                try:
                    await trio.sleep(fault.seconds)
                finally:
                    self._stalled = False
        elif fault.action == "bad_delta":
            self._bad_delta = fault
        elif fault.action == "tool_call":
            call = hostile_call(fault, self.session.config.get("tools") or [])
            self._queue(self.session.call_function(call))
            self._stream_if_needed(nursery)

    async def _close(self, code: int, reason: str) -> None:
        """Send nothing more; close with `code`, waiting a little for the client's close frame."""
        async with self._send_lock:
            if self._ended:
                return
            self._ended = True
            self.settings.recorder.record(
                "sim", self.session_id, {"type": "sim.closed", "code": code, "reason": reason}
            )
            with trio.move_on_after(CLOSE_TIMEOUT_S):
                await self.ws.aclose(code, reason)

    async def _drop(self) -> None:
        """End the TCP connection without a close frame: the client sees an abnormal closure."""
        async with self._send_lock:
            if self._ended:
                return
            self._ended = True
            self.settings.recorder.record("sim", self.session_id, {"type": "sim.dropped"})
            # trio-websocket has no public abort; closing its stream is what a dying network does.
            stream = getattr(self.ws, "_stream", None)
            if stream is not None:
                await stream.aclose()

    def _suppress_pongs_while_stalled(self) -> None:
        """Make a stall silence pongs too, as a stuck server would.

        trio-websocket answers pings in its own reader task through ``_send``; wrapping
        that one method on this connection is the only hook it offers (a version
        without it still stalls, but answers pings).
        """
        original = getattr(self.ws, "_send", None)
        if original is None:
            return

        async def send(event: wsproto.events.Event) -> None:
            if self._stalled and isinstance(event, wsproto.events.Pong):
                return
            await original(event)

        self.ws._send = send  # type: ignore[method-assign]

    def _queue(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self._outbox_in.send_nowait(event)
            self._queue_faults(self.faults.sent(event["type"]))

    def _queue_faults(self, faults: list[Fault]) -> None:
        for fault in faults:
            self._outbox_in.send_nowait(fault)


def _kind(event: Any) -> str:
    return str(event.get("type")) if isinstance(event, dict) else "(not a JSON object)"
