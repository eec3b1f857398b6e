"""The simulator as a server: configuration, the listening socket, what it observed."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import trio
from trio_websocket import serve_websocket

from voiced.simulator.connection import DEFAULT_MAX_SESSION_S, ConnectionSettings, handle_request
from voiced.simulator.faults import Fault, FaultBook
from voiced.simulator.recorder import Direction, EventRecorder, LoggedEvent
from voiced.simulator.script import Script
from voiced.simulator.validation import StrictValidator

#: The service accepts large appends (up to 15 MiB of audio); so does the simulator.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
DEFAULT_SPEED = 4.0


class Simulator:
    """A stand-in for the OpenAI Realtime API (GA, WebSocket) on loopback.

    `script` scripts the turns; `api_key` makes every other bearer token an
    ``invalid_api_key`` (by default any token is accepted); `strict` also checks
    client events against the ``openai`` package's types (RuntimeError here when it
    is not installed); `speed` is how much faster than real time responses stream;
    `event_log` is a JSON Lines file that every event is appended to.

    `max_session_s` closes each session with 1001 "maximum duration" after that many
    seconds (default: the script's ``[faults] max_session_s``, else 3600, the real
    cap); `faults` are injected on top of the script's; `refuse_connections` answers
    that many handshakes with HTTP 503 (default: the script's); without `session_ids`
    the session objects it sends carry no ``id``. See
    :mod:`voiced.simulator.faults`. Times are wall-clock seconds, not scaled by `speed`.
    """

    def __init__(
        self,
        *,
        script: Script | None = None,
        api_key: str | None = None,
        strict: bool = False,
        speed: float = DEFAULT_SPEED,
        event_log: Path | None = None,
        history: int = 10_000,
        max_session_s: float | None = None,
        faults: Sequence[Fault] = (),
        refuse_connections: int | None = None,
        session_ids: bool = True,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        if max_session_s is not None and max_session_s <= 0:
            raise ValueError("max_session_s must be positive")
        scripted = script.faults if script else None
        self.faults = FaultBook(
            [*(scripted.inject if scripted else []), *faults],
            refuse_connections
            if refuse_connections is not None
            else (scripted.refuse_connections if scripted else 0),
        )
        self.recorder = EventRecorder(Path(event_log) if event_log else None, history=history)
        self._settings = ConnectionSettings(
            recorder=self.recorder,
            script=script,
            api_key=api_key,
            speed=speed,
            strict_check=StrictValidator().check if strict else None,
            faults=self.faults,
            max_session_s=max_session_s
            or (scripted.max_session_s if scripted else None)
            or DEFAULT_MAX_SESSION_S,
            session_ids=session_ids,
        )
        self.url: str | None = None

    @property
    def events(self) -> Sequence[LoggedEvent]:
        """Every event received and sent so far (the last `history` of them)."""
        return self.recorder.events

    def received(self, event_type: str | None = None) -> list[dict]:
        """Client events received (optionally of one type), oldest first."""
        return [
            entry.event
            for entry in self.recorder.events
            if entry.dir == "in" and (event_type is None or entry.type == event_type)
        ]

    @property
    def sessions(self) -> list[str]:
        """The ids of the sessions opened so far, oldest first."""
        return [
            entry.event["session"]["id"]
            for entry in self.recorder.events
            if entry.dir == "out" and entry.type == "session.created"
        ]

    def items_created(self, session: str) -> list[dict]:
        """The items the client added with ``conversation.item.create`` in `session`, accepted ones only."""
        return [
            entry.event["item"]
            for entry in self.recorder.events
            if entry.session == session
            and entry.dir == "in"
            and entry.type == "conversation.item.create"
            and entry.invalid is None
        ]

    def inject(self, fault: Fault) -> None:
        """Arm one more fault for the sessions that start from now on."""
        self.faults.add(fault)

    def refuse_next(self, count: int) -> None:
        """Answer the next `count` WebSocket handshakes with HTTP 503."""
        self.faults.refuse_next(count)

    async def wait_for(self, event_type: str, *, direction: Direction = "in", after: int = 0) -> LoggedEvent:
        """Wait for an event of `event_type` (recorded after seq `after`); wrap in a timeout."""
        return await self.recorder.wait_for(event_type, direction=direction, after=after)

    async def serve(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled; report the base URL (``http://HOST:PORT/v1``) once listening.

        Use ``url = await nursery.start(simulator.serve)``. Each connection runs in
        this call's nursery; a client that misbehaves only ends its own connection.
        Raises OSError when the address cannot be bound. Closes the event log on exit.
        """
        handler = functools.partial(handle_request, settings=self._settings)
        try:
            async with trio.open_nursery() as nursery:
                server = await nursery.start(
                    functools.partial(
                        serve_websocket,
                        handler,
                        host,
                        port,
                        None,
                        handler_nursery=nursery,
                        max_message_size=MAX_MESSAGE_BYTES,
                    )
                )
                shown_host = f"[{host}]" if ":" in host else host
                self.url = f"http://{shown_host}:{server.port}/v1"
                task_status.started(self.url)
        finally:
            self.recorder.close()
