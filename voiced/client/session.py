"""One Realtime conversation for a program: the daemon's conversation core over anyio.

The `Conversation` the daemon runs decides what to send (the session's configuration
after `session.created`, a typed turn and its response, what to truncate or delete on
an interruption, the conversation replayed after a rollover); this module only carries
its actions over a WebSocket and hands every server event to the program.

There is no playback here: the program plays the audio it receives and says, through
`interrupt(played_ms)`, how much of it was heard. An answer's items count as playing
until the next response begins.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from functools import partial
from typing import Any, Literal

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectSendStream

from voiced.conversation import Action, Conversation, Message, Publish, Send, StopPlayback
from voiced.exceptions import innermost
from voiced.pcm import SAMPLE_BYTES
from voiced.realtime.connection import MAX_MESSAGE_BYTES, parse_server_message
from voiced.realtime.endings import SessionEnded, explain, is_rollover, keep_alive, raise_if_expired
from voiced.realtime.protocol import ClientEvent, ServerError, ServerEvent, normalise
from voiced.realtime.websocket import WebSocket, WebSocketClosed, open_websocket
from voiced.simulator.errors import ClientError
from voiced.simulator.validation import check_client_event

from .options import Options

log = logging.getLogger("voiced.client")

REPLAY_TURNS = 50
_TURN_ROLES: dict[str, Literal["user", "assistant"]] = {
    "user.transcript.completed": "user", "assistant.transcript.completed": "assistant"}
"""The core's events that finish a turn, replayed into the next session after a rollover."""


class InvalidEvent(ValueError):
    """A client event the service would refuse, caught before it is sent."""


class Session:
    """A Realtime session yielded by `voiced.client.connect`; iterate it for server events.

    Every method may be called from any task. Server events wait, in order, until they
    are read. After the session has ended, iterating raises the `SessionEnded` that says
    why (none after `close`), and the methods raise it.
    """

    def __init__(self, options: Options) -> None:
        self._options = options
        self._conversation = Conversation(options.session)
        self._events_in: MemoryObjectSendStream[ServerEvent]
        self._events_in, self._events = anyio.create_memory_object_stream[ServerEvent](math.inf)
        self._websocket: WebSocket | None = None
        self._open = anyio.Event()
        """Set while a session is up (replaced by a new Event during a rollover)."""
        self._finished = anyio.Event()
        self._scope = anyio.CancelScope()
        self._stopping: tuple[str, ...] | None = None
        """Items the core asked to stop playing, waiting for the program to say what was heard."""
        self._turns: list[Message] = []
        self.ended: SessionEnded | None = None
        """Why the session ended, once it has (None after `close`)."""

    # -- for the program ----------------------------------------------------------

    def __aiter__(self) -> Session:
        return self

    async def __anext__(self) -> ServerEvent:
        try:
            return await self._events.receive()
        except anyio.EndOfStream:
            if self.ended is not None:
                raise self.ended from None
            raise StopAsyncIteration from None

    async def send(self, event: ClientEvent) -> None:
        """Send any client event; InvalidEvent (a ValueError) if the service would refuse it.

        During a rollover it waits for the next session."""
        try:
            check_client_event(dict(event))
            json.dumps(event, allow_nan=False)
        except ClientError as exc:
            raise InvalidEvent(exc.message) from None
        except (TypeError, ValueError) as exc:
            raise InvalidEvent(f"the event is not JSON: {exc}") from None
        await self._wait_open()
        await self._send(dict(event))

    async def update(self, **fields: Any) -> None:
        """`session.update` with these session fields changed (`instructions="..."`, `audio={...}`)."""
        session = {**self._conversation.session, **fields}
        try:
            check_client_event({"type": "session.update", "session": session})
        except ClientError as exc:
            raise InvalidEvent(exc.message) from None
        await self._apply(self._conversation.configure(session))

    async def say(self, text: str) -> None:
        """A typed user turn and one response to it. An answer under way is cut off first,
        as if all of its audio received so far was heard (call `interrupt` before to say
        how much was)."""
        self._check()
        if self._stopping is None and self._conversation.response_id is None:
            await self._apply(self._conversation.playback_drained())
        await self._apply(self._conversation.say(text))
        await self._heard(None)

    async def append_audio(self, pcm: bytes) -> None:
        """Send user audio: 24 kHz mono PCM16 (little-endian), whole samples."""
        self._check()
        if len(pcm) % SAMPLE_BYTES:
            raise ValueError("PCM16 audio must hold whole samples (an even number of bytes)")
        if self._conversation.manual_turns and not self._conversation.talking:
            await self._apply(self._conversation.talk(True))  # the first audio of a manual turn
            await self._heard(None)
        event = self._conversation.microphone_frame(pcm)
        if event is not None:
            await self._send(event)

    async def commit(self) -> None:
        """End the user's audio turn: without turn detection this also asks for a response."""
        self._check()
        if self._conversation.manual_turns:
            await self._apply(self._conversation.talk(False))
        else:
            await self._send(self._conversation.events.commit_audio())

    async def interrupt(self, played_ms: float | None = None) -> None:
        """Stop the assistant: cancel its response, and truncate the item being played at
        `played_ms` (delete it when nothing was heard). None: all of it received so far was heard."""
        self._check()
        if self._stopping is None:
            await self._apply(self._conversation.interrupt())
        await self._heard(played_ms)

    async def close(self) -> None:
        """End the session and its connection; iteration then stops. Safe to call twice."""
        self._scope.cancel()
        await self._finished.wait()

    # -- the connection ---------------------------------------------------------------

    async def _run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Keep the session up until `close`, a fatal error or a connection that fails;
        reports started once the first session is configured (or has ended)."""
        started = False
        try:
            with self._scope:
                while True:
                    replay = self._turns[-REPLAY_TURNS:]
                    try:
                        await self._connect(replay, task_status if not started else None)
                    except SessionEnded as ended:
                        was_up = self._conversation.connected
                        await self._apply(self._conversation.playback_drained())
                        await self._apply(self._conversation.connection_lost(ended.reason, fatal=ended.fatal))
                        self._open = anyio.Event()
                        if is_rollover(ended) and was_up:
                            log.info("session rolled over (%s); reconnecting", ended)
                            await self._apply(self._conversation.hold())
                            continue
                        self.ended = ended
                        return
                    finally:
                        started = started or self._conversation.connection > 0
        finally:
            self._open.set()  # wake senders: they find the session ended
            self._events_in.close()
            self._finished.set()
            if not started:
                task_status.started()

    async def _connect(self, replay: list[Message], task_status: anyio.abc.TaskStatus[None] | None) -> None:
        url, headers = self._options.url, [(b"Authorization", f"Bearer {self._options.key}".encode())]
        try:
            async with open_websocket(url, headers=headers, timeout=self._options.timeout,
                                      max_message_bytes=MAX_MESSAGE_BYTES) as websocket:
                self._websocket = websocket
                await self._apply(self._conversation.connection_opened(replay))
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(partial(keep_alive, websocket.ping, timeout=self._options.timeout))
                    await self._receive(websocket, task_status)
        except BaseException as exc:
            ended = explain(innermost(exc), url)
            if ended is None:
                raise
            raise ended from None
        finally:
            self._websocket = None

    async def _receive(self, websocket: WebSocket, task_status: anyio.abc.TaskStatus[None] | None) -> None:
        while True:
            event = parse_server_message(await websocket.receive())
            if event is None:
                continue
            event = normalise(event)
            if event["type"] == "response.created":
                await self._heard(None)  # the program moved on without saying what was heard
                await self._apply(self._conversation.playback_drained())
            await self._apply(self._conversation.server_event(event))
            self._events_in.send_nowait(event)
            if event["type"] == "session.created":
                self._open.set()
                if task_status is not None:
                    task_status.started()
                    task_status = None
            elif event["type"] == "error":
                error = ServerError.from_event(event)
                if error.fatal:
                    raise SessionEnded(f"{error.code}: {error.message}", fatal=True)
                raise_if_expired(event)

    # -- carrying out the core's actions ------------------------------------------------

    async def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                await self._send(action.event)
            elif isinstance(action, StopPlayback):
                self._stopping = action.item_ids
            elif (isinstance(action, Publish) and (role := _TURN_ROLES.get(action.type))
                  and (text := str(action.data.get("text") or ""))):
                self._turns.append(Message(role, text))
            # Play and CallTool are the program's to act on: it has the server events.

    async def _heard(self, played_ms: float | None) -> None:
        """Tell the core how much of the items it stopped was heard."""
        if self._stopping is None:
            return
        first, self._stopping = self._stopping[0], None
        heard = math.inf if played_ms is None else max(0.0, played_ms)
        await self._apply(self._conversation.playback_stopped({first: heard}))

    async def _send(self, event: ClientEvent) -> None:
        if self._websocket is None:
            return  # between sessions: the core holds what must go to the next one
        with contextlib.suppress(WebSocketClosed):  # the receiving task ends or rolls the session over
            await self._websocket.send(json.dumps(event, separators=(",", ":")))

    async def _wait_open(self) -> None:
        self._check()
        await self._open.wait()
        self._check()

    def _check(self) -> None:
        if self.ended is not None:
            raise self.ended
        if self._finished.is_set():
            raise SessionEnded("the session is closed")

