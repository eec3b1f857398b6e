"""The conversation's state and turns: what the user and the server are doing, in one place.

The state (`connecting`, `listening`, `thinking`, ...) is derived from a few facts,
never stored, and `state.changed` is published whenever a handler moved it. Nothing is
sent to the server before its `session.created`: what the user asks for meanwhile waits
and goes out after the session's configuration, the replayed conversation and the
microphone audio held during the switch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from voiced.realtime import protocol
from voiced.realtime.protocol import ClientEvent, ClientEvents, ServerError, normalise

from . import relayed
from .actions import Action, Message, Publish, Send, State
from .held_audio import HeldAudio
from .speech import Speech
from .tool_calls import ToolCalls
from .wanted import WantedResponses

DEFERRED_SENDS = 100


class Conversation:
    """Conversation state for one daemon; survives reconnections, not `restart`."""

    def __init__(self, session: Mapping[str, Any]) -> None:
        self.session = dict(session)
        self.events = ClientEvents()
        self.speech = Speech(self.events)
        self.connected = False
        self.session_id: str | None = None
        self.connection = 0  # sessions opened: an item's truncation is keyed by it, not by an id
        self.error: str | None = None
        self.paused = self.standby = self.user_speaking = self.talking = False
        self.awaiting_response = False
        """A response was asked for (by us or by the server's VAD) and has not been created."""
        self.response_id: str | None = None
        self._wanted = WantedResponses()
        self._commits: deque[str] = deque(maxlen=16)
        """Event ids of our commits, to recognise errors about them."""
        self._tools = ToolCalls()
        self._turn = 0
        """Counts user turns, so a tool that finishes after the user moved on is not answered."""
        self._replay: list[Message] = []
        self._held = HeldAudio()
        self._deferred: deque[Send] = deque(maxlen=DEFERRED_SENDS)
        self._state = State.CONNECTING

    # -- state ---------------------------------------------------------------

    @property
    def audio_playing(self) -> bool:
        return self.speech.playing

    @property
    def state(self) -> State:
        if self.error is not None:
            return State.ERROR
        if self.standby:
            return State.STANDBY
        if not self.connected:
            return State.CONNECTING
        if self.paused:
            return State.PAUSED
        if self.user_speaking or self.talking:
            return State.USER_SPEAKING
        if self.audio_playing:
            return State.SPEAKING
        if self.response_id is not None or self.awaiting_response or self._wanted or self._tools:
            return State.THINKING
        return State.LISTENING

    def _done(self, actions: list[Action]) -> list[Action]:
        """Every entry point ends here: hold sends while disconnected, note a state change."""
        if not self.connected:
            self._deferred.extend(a for a in actions if isinstance(a, Send))
            actions = [a for a in actions if not isinstance(a, Send)]
        new = self.state
        if new is not self._state:
            actions.append(Publish("state.changed", {"state": new.value, "previous": self._state.value}))
            self._state = new
        return actions

    @property
    def _turn_detection(self) -> Mapping[str, Any] | None:
        audio = self.session.get("audio") or {}
        return (audio.get("input") or {}).get("turn_detection")

    @property
    def manual_turns(self) -> bool:
        """Push-to-talk: the server detects no turns, `talk` starts and ends them."""
        return self._turn_detection is None

    # -- the transport -----------------------------------------------------------------

    def connection_opened(self, replay: Iterable[Message] = ()) -> list[Action]:
        """The WebSocket is up; nothing is sent until the server's `session.created`.

        `replay` is the conversation so far: a new session starts empty, so these are
        sent as items first, then the microphone audio held meanwhile, then what the
        user asked for while there was no session.
        """
        self._replay = [m for m in replay if m.text]
        return self._done([])

    def connection_lost(self, reason: str, *, fatal: bool = False) -> list[Action]:
        """The session ended; the turn state resets.

        Audio already received plays on (a rollover must not cut the answer short), and
        its transcript is still reported once heard.
        """
        self.connected = False
        self.user_speaking = self.awaiting_response = self.talking = False
        self._wanted.clear()
        self._tools.clear()
        self.response_id = None
        if fatal:
            self.error = reason
        return self._done([Publish("session.disconnected", {"reason": reason, "fatal": fatal})])

    def configure(self, session: Mapping[str, Any]) -> list[Action]:
        """The configuration for `session.update`: sent at once to an open session, else
        with the next `session.created`."""
        self.session = dict(session)
        return self._done([Send(self.events.session_update(self.session))] if self.connected else [])

    def clear_error(self) -> list[Action]:
        """Try again after a fatal error (a restart or a new configuration)."""
        self.error = None
        return self._done([])

    def server_event(self, raw: Mapping[str, Any]) -> list[Action]:
        """Fold one server event into the state; return what to do about it."""
        event = normalise(raw)
        handler = _HANDLERS.get(event.get("type", ""))
        return self._done(handler(self, event) if handler else [])

    # -- the microphone --------------------------------------------------------------

    def microphone_frame(self, pcm: bytes) -> ClientEvent | None:
        """The append event for one captured frame, or None while it must not be sent."""
        if self.paused or self.standby or (self.manual_turns and not self.talking):
            return None
        if not self.connected:
            self._held.offer(pcm)
            return None
        return self.events.append_audio(pcm)

    def hold(self, frames: Iterable[bytes] = ()) -> list[Action]:
        """Keep microphone audio (`frames`, then what comes) until the next session is up."""
        self._held.hold(frames)
        return self._done([])

    def release(self) -> list[Action]:
        """Keep no audio for a next session (it would be stale by then)."""
        self._held.forget()
        return self._done([])

    @property
    def holding(self) -> bool:
        return self._held.holding

    # -- the playback -----------------------------------------------------------------

    def item_started_playing(self, item_id: str) -> list[Action]:
        return self._done(self.speech.started_playing(item_id))

    def playback_drained(self) -> list[Action]:
        """Everything queued has been played."""
        return self._done(self.speech.drained())

    def playback_stopped(self, played_ms: Mapping[str, float]) -> list[Action]:
        """The playback is silent after `StopPlayback`; how much of each item was heard."""
        return self._done(self.speech.stopped(played_ms, self._live_connection))

    @property
    def _live_connection(self) -> int | None:
        return self.connection if self.connected else None

    # -- the user -------------------------------------------------------------------

    def pause(self) -> list[Action]:
        """Stop sending microphone audio; what is playing may finish."""
        if self.paused:
            return []
        self.paused = True
        actions: list[Action] = []
        if self.connected and self.user_speaking:
            # The server would wait for silence that never comes: drop the partial turn.
            actions.append(Send(self.events.clear_audio()))
            self.user_speaking = False
        return self._done(actions)

    def resume(self) -> list[Action]:
        self.paused = False
        return self._done([])

    def set_standby(self, standby: bool) -> list[Action]:
        """Standby: no session, nothing sent; the daemon listens locally for a reason to wake."""
        self.standby = standby
        return self._done([])

    def interrupt(self) -> list[Action]:
        """A local interrupt: stop the assistant now; the server is told what was heard."""
        return self._done(self._cut_off(server_cancels=False))

    def say(self, text: str) -> list[Action]:
        """A typed user turn: add it to the conversation and ask for an answer.

        An answer under way is interrupted first; the new one is asked for once the
        server has closed the old one (asking earlier is an error).
        """
        self._turn += 1
        actions = self._cut_off(server_cancels=False)
        item = self.events.add_user_text(text)
        actions.append(Send(item))
        actions.append(Publish("user.transcript.completed", {"item_id": item["item"]["id"], "text": text,
                                                             "typed": True}))
        actions.extend(self._ask_for_response())
        return self._done(actions)

    def announce(self, text: str) -> list[Action]:
        """The assistant says `text` as given (an instructed response); an answer under way is cut off."""
        self._turn += 1
        actions = self._cut_off(server_cancels=False)
        actions.extend(self._ask_for_response(protocol.announcement_instructions(text)))
        return self._done(actions)

    def talk(self, start: bool) -> list[Action]:
        """Push-to-talk: `start` opens a turn (cutting off the assistant), stop sends it."""
        if start:
            if self.talking:
                return []
            self._turn += 1
            cut = self._cut_off(server_cancels=False)
            cut.append(Send(self.events.clear_audio()))
            self.talking = True
            cut.append(Publish("user.speech.started", {"item_id": None, "push_to_talk": True}))
            return self._done(cut)
        if not self.talking:
            return []
        self.talking = False
        commit = self.events.commit_audio()
        self._commits.append(commit["event_id"])
        actions: list[Action] = [Send(commit),
                                 Publish("user.speech.stopped", {"item_id": None, "push_to_talk": True})]
        actions.extend(self._ask_for_response())
        return self._done(actions)

    def tool_finished(self, call_id: str, output: str) -> list[Action]:
        """A tool's output goes back as an item. The answer is asked for once every call of
        the turn is done and the server's response that asked for them has closed; not at
        all if the user has moved on, or the session the call came from has ended."""
        turn = self._tools.finish(call_id)
        if turn is None:
            return []
        actions: list[Action] = [Send(self.events.add_tool_output(call_id, output))]
        if turn == self._turn and not self._tools:
            actions.extend(self._ask_for_response())
        return self._done(actions)

    def run_confirmed(self, call_id: str, name: str, arguments: str) -> list[Action]:
        """A call the user confirmed: it joins the conversation as the model's, and runs."""
        return self._done([Send(self.events.add_function_call(call_id, name, arguments)),
                           *self._tools.start(call_id, name, arguments, self._turn)])

    def _ask_for_response(self, instructions: str | None = None) -> list[Action]:
        self._wanted.want(instructions)
        return self._next_response()

    def _next_response(self) -> list[Action]:
        """Ask for the next response wanted, unless one is under way (it is asked for when that is done)."""
        if self.response_id is not None or self.awaiting_response or not self._wanted:
            return []
        instructions = self._wanted.take()
        self.awaiting_response = True
        event = self.events.create_response(instructions)
        self._wanted.asked(event["event_id"], instructions)
        return [Send(event)]

    def _cut_off(self, *, server_cancels: bool) -> list[Action]:
        return self.speech.cut_off(self.response_id, server_cancels=server_cancels,
                                   connection=self._live_connection)

    # -- server events -------------------------------------------------------------

    def _on_session_created(self, event: dict[str, Any]) -> list[Action]:
        self.connected = True
        self.error = None
        self.connection += 1
        self.session_id = (event.get("session") or {}).get("id")
        actions: list[Action] = [Send(self.events.session_update(self.session))]
        actions += [Send(self.events.add_message(m.role, m.text)) for m in self._replay]
        actions += [Send(self.events.append_audio(pcm)) for pcm in self._held]
        actions += list(self._deferred)
        held_ms = round(self._held.ms)
        actions.append(Publish("session.connected", {"session_id": self.session_id,
                                                     "replayed_items": len(self._replay),
                                                     "held_audio_ms": held_ms}))
        self._replay = []
        self._deferred.clear()
        self._held.forget()
        return actions

    def _on_speech_started(self, event: dict[str, Any]) -> list[Action]:
        self.user_speaking = True
        self._turn += 1
        server_cancels = bool((self._turn_detection or {}).get("interrupt_response", True))
        actions = self._cut_off(server_cancels=server_cancels)
        actions.append(Publish("user.speech.started", {"item_id": event.get("item_id"),
                                                       "audio_start_ms": event.get("audio_start_ms")}))
        return actions

    def _on_speech_stopped(self, event: dict[str, Any]) -> list[Action]:
        self.user_speaking = False
        if (self._turn_detection or {}).get("create_response", True):
            self.awaiting_response = True
        return [Publish("user.speech.stopped", {"item_id": event.get("item_id"),
                                                "audio_end_ms": event.get("audio_end_ms")})]

    def _on_response_created(self, event: dict[str, Any]) -> list[Action]:
        self.response_id = (event.get("response") or {}).get("id")
        self.awaiting_response = False
        self.speech.response_created()
        return [Publish("assistant.response.started", {"response_id": self.response_id})]

    def _on_output_item_added(self, event: dict[str, Any]) -> list[Action]:
        item = event.get("item") or {}
        if item.get("type") == "message" and item.get("role") == "assistant" and item.get("id"):
            self.speech.item_added(str(item["id"]), event.get("response_id"), self.connection)
        return []

    def _on_audio_delta(self, event: dict[str, Any]) -> list[Action]:
        return self.speech.audio(event)

    def _on_transcript_delta(self, event: dict[str, Any]) -> list[Action]:
        return self.speech.transcript_delta(event)

    def _on_transcript_done(self, event: dict[str, Any]) -> list[Action]:
        return self.speech.transcript_done(event.get("item_id"),
                                           str(event.get("transcript") or event.get("text") or ""))

    def _on_response_done(self, event: dict[str, Any]) -> list[Action]:
        response = event.get("response") or {}
        if response.get("id") == self.response_id:
            self.response_id = None
            self.speech.response_done()
        actions: list[Action] = [Publish("assistant.response.done", {
            "response_id": response.get("id"), "status": response.get("status"),
            "usage": response.get("usage") or {}})]
        actions.extend(self._next_response())
        return actions

    def _on_function_call(self, event: dict[str, Any]) -> list[Action]:
        call_id, name = str(event.get("call_id") or ""), str(event.get("name") or "")
        if not call_id or not name or self.speech.is_dropped(event.get("response_id")):
            return []
        return self._tools.start(call_id, name, str(event.get("arguments") or "{}"), self._turn)

    def _on_error(self, event: dict[str, Any]) -> list[Action]:
        error = ServerError.from_event(event)
        if error.fatal:
            self.error = f"{error.code}: {error.message}"
        actions: list[Action] = [Publish("error", {"code": error.code, "message": error.message,
                                                   "event_id": error.event_id, "fatal": error.fatal})]
        busy = error.code == "conversation_already_has_active_response"
        if self._wanted.refused(error.event_id, retry=busy) or error.event_id in self._commits:
            # Our commit or response.create was refused: no response is coming for it. One
            # refused for another under way is asked for again when that one is done.
            self.awaiting_response = False
            if not busy:
                actions.extend(self._next_response())
        return actions


_HANDLERS = {
    "session.created": Conversation._on_session_created,
    "input_audio_buffer.speech_started": Conversation._on_speech_started,
    "input_audio_buffer.speech_stopped": Conversation._on_speech_stopped,
    "response.created": Conversation._on_response_created,
    "response.output_item.added": Conversation._on_output_item_added,
    "response.output_audio.delta": Conversation._on_audio_delta,
    "response.output_audio_transcript.delta": Conversation._on_transcript_delta,
    "response.output_audio_transcript.done": Conversation._on_transcript_done,
    "response.output_text.delta": Conversation._on_transcript_delta,
    "response.output_text.done": Conversation._on_transcript_done,
    "response.done": Conversation._on_response_done,
    "conversation.item.input_audio_transcription.delta": relayed.user_transcript_delta,
    "conversation.item.input_audio_transcription.completed": relayed.user_transcript,
    "conversation.item.input_audio_transcription.failed": relayed.user_transcript_failed,
    "response.function_call_arguments.done": Conversation._on_function_call,
    "rate_limits.updated": relayed.rate_limits,
    "error": Conversation._on_error,
}
