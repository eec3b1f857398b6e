"""Carrying out what the conversation decides: send, play, stop playback, call tools, publish.

The conversation (voiced.conversation) decides and returns actions; nothing else changes
its state. This part carries each action out and feeds back what followed from it (how
much was played when playback stopped, a tool's output), which the conversation answers
with more actions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import trio

from voiced.bus import Event
from voiced.conversation import Action, CallTool, Conversation, Message, Play, Publish, Send, StopPlayback
from voiced.realtime.protocol import ServerEvent

from .current import CurrentConversation
from .outbox import Outbox

log = logging.getLogger("voiced")


class Speaker(Protocol):
    """The playback side of the audio (voiced.audio.playback.Playback)."""

    def enqueue(self, item_id: str, pcm: bytes) -> None: ...

    def stop(self) -> None: ...

    def played_ms(self, item_id: str) -> float: ...

    def forget(self, item_id: str) -> None: ...


ToolCaller = Callable[[CallTool], Awaitable[str]]
"""Runs the model's call; the output for the model."""


class Effects:
    """Applies the current conversation's actions; every entry point ends in `apply`."""

    def __init__(self, current: CurrentConversation, *, outbox: Outbox,
                 speaker: Callable[[], Speaker | None], publish: Callable[[str, dict[str, Any]], Event],
                 stamp: Callable[[str, dict[str, Any]], dict[str, Any]], call_tool: ToolCaller,
                 nursery: trio.Nursery) -> None:
        """`stamp(type, data)` adds what only the moment of publishing knows (latency);
        tool calls run as tasks in `nursery`."""
        self._current = current
        self._outbox = outbox
        self._speaker = speaker
        self._publish = publish
        self._stamp = stamp
        self._call_tool = call_tool
        self._nursery = nursery

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self._outbox.send(action.event)
            elif isinstance(action, Play):
                if (speaker := self._speaker()) is not None:
                    speaker.enqueue(action.item_id, action.pcm)
            elif isinstance(action, StopPlayback):
                self._stop_playback(action.item_ids)
            elif isinstance(action, Publish):
                self._publish(action.type, self._stamp(action.type, action.data))
            elif isinstance(action, CallTool):
                self._nursery.start_soon(self._run_tool, self._current.conversation, action)

    @property
    def conversation(self) -> Conversation:
        return self._current.conversation

    def _stop_playback(self, item_ids: tuple[str, ...]) -> None:
        played: dict[str, float] = {}
        if (speaker := self._speaker()) is not None:
            speaker.stop()
            played = {item_id: speaker.played_ms(item_id) for item_id in item_ids}
            for item_id in item_ids:
                speaker.forget(item_id)
        self.apply(self.conversation.playback_stopped(played))

    async def _run_tool(self, conversation: Conversation, call: CallTool) -> None:
        """Run the tool in a task of the daemon's nursery: whatever goes wrong in the call
        becomes an error output for the model, never an exception that would end the daemon."""
        try:
            output = await self._call_tool(call)
        except Exception as exc:  # not trio.Cancelled: a BaseException, it ends the task as it should
            log.error("tool %s failed", call.name, exc_info=exc)
            output = json.dumps({"error": f"the tool {call.name!r} failed"})
        result = {"call_id": call.call_id, "name": call.name, "output": output}
        self._publish("tool.result", self._stamp("tool.result", result))
        if conversation is self.conversation:  # not for a conversation that was restarted meanwhile
            self.apply(conversation.tool_finished(call.call_id, output))

    # -- what the audio reports ----------------------------------------------------------

    def playback_drained(self, queued_ms: float) -> None:
        if queued_ms > 0:
            return  # audio arrived after the audio thread saw the queue run dry
        self.apply(self.conversation.playback_drained())

    def item_started_playing(self, item_id: str) -> None:
        self.apply(self.conversation.item_started_playing(item_id))

    # -- what the session keeper reports (voiced.daemon.sessions.Conversing) -------------

    def server_event(self, event: ServerEvent) -> str | None:
        self.apply(self.conversation.server_event(event))
        return self.conversation.error

    def session_opened(self, replay: list[Message]) -> None:
        self.apply(self.conversation.connection_opened(replay=replay))

    def session_lost(self, reason: str, *, fatal: bool = False, keep_audio: bool = False) -> None:
        """The session ended: what was queued for it is dropped; with `keep_audio`, the
        microphone audio from now on is held for the next session."""
        conversation = self.conversation
        self.apply(conversation.connection_lost(reason, fatal=fatal))
        self._outbox.drop()
        self.apply(conversation.hold() if keep_audio else conversation.release())

    def error_cleared(self) -> None:
        self.apply(self.conversation.clear_error())

    # -- what listening asks for (voiced.daemon.listening.Standby) -----------------------

    def set_standby(self, standby: bool) -> None:
        self.apply(self.conversation.set_standby(standby))

    def hold(self, pre_roll: list[bytes]) -> None:
        self.apply(self.conversation.hold(pre_roll))
