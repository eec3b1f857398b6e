"""The conversation: states, turns and interruption decisions, as pure code.

`Conversation` is fed server events, microphone frames and local commands; it answers
with actions (`Send`, `Play`, `StopPlayback`, `Publish`) that the daemon carries out.
It never touches a socket, a device or the clock, so every decision here is tested
by feeding it events.

Interruption is a two-step handshake because only the playback knows what was heard:
the conversation asks for `StopPlayback`, the daemon stops the device and reports back
with `playback_stopped(item_id, played_ms)`, and only then does the conversation choose
between `conversation.item.truncate` and `conversation.item.delete`.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from voiced.config import WIRE_RATE
from voiced.realtime.protocol import (
    ClientEvent,
    ClientEvents,
    ServerError,
    decode_audio,
    normalise,
)


class State(str, enum.Enum):
    CONNECTING = "connecting"
    STANDBY = "standby"
    LISTENING = "listening"
    USER_SPEAKING = "user_speaking"
    THINKING = "thinking"
    SPEAKING = "speaking"
    PAUSED = "paused"
    ERROR = "error"


@dataclass(frozen=True)
class Send:
    """Send this client event to the Realtime server."""

    event: ClientEvent


@dataclass(frozen=True)
class Play:
    """Queue assistant audio (24 kHz PCM16) for playback, attributed to `item_id`."""

    item_id: str
    pcm: bytes


@dataclass(frozen=True)
class StopPlayback:
    """Silence the output now, drop what is queued, then call `playback_stopped`."""

    item_id: str


@dataclass(frozen=True)
class Publish:
    """Publish an event on the bus (the contract's event types)."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallTool:
    """Run a tool the model asked for, then call `tool_finished` with its output."""

    call_id: str
    name: str
    arguments: str


Action = Send | Play | StopPlayback | Publish | CallTool

HELD_FRAMES = 500
"""Microphone frames kept while a session is replaced: 10 s of 20 ms frames."""


@dataclass(frozen=True)
class Message:
    """A finished turn's text, replayed into a new session so the assistant remembers it."""

    role: Literal["user", "assistant"]
    text: str


def heard_text(transcript: str, heard_ms: float, received_ms: float) -> str:
    """The part of `transcript` the user heard: its share of the audio, to a word boundary.

    Transcript deltas arrive alongside the audio they describe, so the share of the
    audio played is a fair estimate of the share of the words spoken.
    """
    if received_ms <= 0 or heard_ms <= 0:
        return ""
    if heard_ms >= received_ms:
        return transcript
    cut = int(len(transcript) * heard_ms / received_ms)
    while 0 < cut < len(transcript) and not transcript[cut - 1].isspace() and not transcript[cut].isspace():
        cut += 1  # finish the word being spoken, not the next one
    return transcript[:cut].rstrip()


def pcm_ms(nbytes: int) -> float:
    """Milliseconds of 24 kHz mono PCM16 in `nbytes`."""
    return nbytes / 2 / WIRE_RATE * 1000


@dataclass
class AssistantItem:
    """The assistant message being received and played."""

    item_id: str
    response_id: str | None
    received_ms: float = 0.0
    transcript: str = ""
    final_transcript: str | None = None
    """The server's whole transcript, held back until the audio it describes has played."""


@dataclass
class Interruption:
    """An interruption waiting for the playback to say how much was heard."""

    item: AssistantItem
    cancel_response: bool


class Conversation:
    """Conversation state for one daemon; survives reconnections."""

    def __init__(self, session: Mapping[str, Any]) -> None:
        self.session = dict(session)
        self.events = ClientEvents()
        self.connected = False
        self.session_id: str | None = None
        self.paused = False
        self.standby = False
        self.error: str | None = None
        self.user_speaking = False
        self.awaiting_response = False
        self.response_id: str | None = None
        self.item: AssistantItem | None = None
        self.audio_playing = False
        self.talking = False
        self._interruption: Interruption | None = None
        self._dropped_responses: set[str] = set()
        self._cut_transcripts: set[str] = set()
        self._response_wanted = False
        self._tools_running: set[str] = set()
        self._replay: list[Message] = []
        self._held: deque[bytes] = deque(maxlen=HELD_FRAMES)
        self.holding = False
        """Keep microphone frames while disconnected, to send once the next session is up."""
        self._state = State.CONNECTING

    # -- state ---------------------------------------------------------------

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
        if (self.response_id is not None or self.awaiting_response or self._response_wanted
                or self._tools_running):
            return State.THINKING
        return State.LISTENING

    def _with_state_change(self, actions: list[Action]) -> list[Action]:
        """Append `state.changed` when the handler moved the derived state."""
        new = self.state
        if new is not self._state:
            actions.append(Publish("state.changed", {"state": new.value, "previous": self._state.value}))
            self._state = new
        return actions

    # -- inputs from the transport ---------------------------------------------

    def connection_opened(self, replay: Iterable[Message] = ()) -> list[Action]:
        """The WebSocket is up; nothing is sent until the server's `session.created`.

        `replay` is the conversation so far: a new session starts empty, so these are
        sent as items before anything else, then the microphone audio held meanwhile.
        """
        self.error = None
        self._replay = [m for m in replay if m.text]
        return self._with_state_change([])

    def connection_lost(self, reason: str, *, fatal: bool = False) -> list[Action]:
        """The session ended; the turn state resets.

        Audio already received plays on (a rollover must not cut the answer short), and
        its transcript is still reported once heard.
        """
        self.connected = False
        self.user_speaking = self.awaiting_response = self.talking = self._response_wanted = False
        self._tools_running.clear()
        self.response_id, self._interruption = None, None
        if fatal:
            self.error = reason
        return self._with_state_change([Publish("session.disconnected", {"reason": reason, "fatal": fatal})])

    def server_event(self, raw: Mapping[str, Any]) -> list[Action]:
        """Fold one server event into the state; return what to do about it."""
        event = normalise(raw)
        handler = _HANDLERS.get(event.get("type", ""))
        actions = handler(self, event) if handler else []
        return self._with_state_change(actions)

    # -- inputs from the microphone, the playback and the user -------------------

    @property
    def manual_turns(self) -> bool:
        """Push-to-talk: the server detects no turns, `talk` starts and ends them."""
        return self.session.get("audio", {}).get("input", {}).get("turn_detection") is None

    def microphone_frame(self, pcm: bytes) -> ClientEvent | None:
        """The append event for one captured frame, or None while it must not be sent."""
        if self.paused or self.standby or (self.manual_turns and not self.talking):
            return None
        if not self.connected:
            if self.holding:
                self._held.append(pcm)
            return None
        return self.events.append_audio(pcm)

    def hold(self, frames: Iterable[bytes]) -> None:
        """Keep `frames` (say, the words that woke us) for the next session."""
        self.holding = True
        self._held.extend(frames)

    def playback_drained(self) -> list[Action]:
        """Everything queued has been played."""
        self.audio_playing = False
        actions: list[Action] = []
        item = self.item
        if item is not None and item.final_transcript is not None:
            actions.append(self._transcript_completed(item.item_id, item.final_transcript))
            item.final_transcript = None
        return self._with_state_change(actions)

    @staticmethod
    def _transcript_completed(item_id: str | None, text: str, interrupted: bool = False) -> Publish:
        return Publish("assistant.transcript.completed",
                       {"item_id": item_id, "text": text, "interrupted": interrupted})

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
        return self._with_state_change(actions)

    def resume(self) -> list[Action]:
        self.paused = False
        return self._with_state_change([])

    def set_standby(self, standby: bool) -> list[Action]:
        """Standby: no session, nothing sent; the daemon listens locally for a reason to wake."""
        self.standby = standby
        return self._with_state_change([])

    def interrupt(self) -> list[Action]:
        """A local interrupt: stop the assistant now; the server is told what was heard."""
        return self._with_state_change(self._begin_interruption(server_cancels=False))

    def say(self, text: str) -> list[Action]:
        """A typed user turn: add it to the conversation and ask for an answer.

        An answer under way is interrupted first; the new one is asked for once the
        server has closed the old one (asking earlier is an error).
        """
        actions = self._begin_interruption(server_cancels=False)
        item = self.events.add_user_text(text)
        actions.append(Send(item))
        actions.append(Publish("user.transcript.completed", {"item_id": item["item"]["id"], "text": text,
                                                             "typed": True}))
        actions.extend(self._ask_for_response())
        return self._with_state_change(actions)

    def talk(self, start: bool) -> list[Action]:
        """Push-to-talk: `start` opens a turn (cutting off the assistant), stop sends it."""
        if start:
            if self.talking:
                return []
            actions = self._begin_interruption(server_cancels=False)
            actions.append(Send(self.events.clear_audio()))
            self.talking = True
            actions.append(Publish("user.speech.started", {"item_id": None, "push_to_talk": True}))
            return self._with_state_change(actions)
        if not self.talking:
            return []
        self.talking = False
        actions = [Send(self.events.commit_audio()),
                   Publish("user.speech.stopped", {"item_id": None, "push_to_talk": True})]
        actions.extend(self._ask_for_response())
        return self._with_state_change(actions)

    def tool_finished(self, call_id: str, output: str) -> list[Action]:
        """A tool's output goes back as an item; the answer is asked for once the server's
        response that asked for the call is done (asking earlier is an error)."""
        self._tools_running.discard(call_id)
        actions: list[Action] = [Send(self.events.add_tool_output(call_id, output))]
        if not self._tools_running:
            actions.extend(self._ask_for_response())
        return self._with_state_change(actions)

    def _ask_for_response(self) -> list[Action]:
        if self.response_id is None:
            self.awaiting_response = True
            return [Send(self.events.create_response())]
        self._response_wanted = True  # sent when the active response is done
        return []

    def playback_stopped(self, item_id: str, played_ms: float) -> list[Action]:
        """The playback is silent; `played_ms` of `item_id` came out of the device."""
        self.audio_playing = False
        pending, self._interruption = self._interruption, None
        actions: list[Action] = []
        if pending is not None and pending.item.item_id == item_id:
            actions.extend(self._conclude_interruption(pending, played_ms))
        return self._with_state_change(actions)

    # -- interruption ----------------------------------------------------------

    def _begin_interruption(self, *, server_cancels: bool) -> list[Action]:
        item = self.item
        response_active = self.response_id is not None
        if item is None or not (self.audio_playing or response_active):
            return []  # nothing is being said: never truncate
        if item.response_id is not None:
            self._dropped_responses.add(item.response_id)
        self._interruption = Interruption(item, cancel_response=response_active and not server_cancels)
        return [StopPlayback(item.item_id)]

    def _conclude_interruption(self, pending: Interruption, played_ms: float) -> list[Action]:
        item = pending.item
        heard_ms = int(min(played_ms, item.received_ms))
        actions: list[Action] = []
        if pending.cancel_response and self.response_id is not None:
            actions.append(Send(self.events.cancel_response()))
        if heard_ms > 0:
            actions.append(Send(self.events.truncate_item(item.item_id, heard_ms)))
        else:
            actions.append(Send(self.events.delete_item(item.item_id)))
        actions.append(Publish("assistant.interrupted", {"item_id": item.item_id, "played_ms": heard_ms}))
        spoken = item.final_transcript if item.final_transcript is not None else item.transcript
        actions.append(self._transcript_completed(
            item.item_id, heard_text(spoken, heard_ms, item.received_ms), interrupted=True))
        item.final_transcript = None
        self._cut_transcripts.add(item.item_id)
        if self.item is item:
            self.item = None
        return actions

    # -- server events -------------------------------------------------------------

    def _on_session_created(self, event: dict[str, Any]) -> list[Action]:
        self.connected = True
        self.session_id = (event.get("session") or {}).get("id")
        actions: list[Action] = [Send(self.events.session_update(self.session))]
        actions += [Send(self.events.add_message(m.role, m.text)) for m in self._replay]
        actions += [Send(self.events.append_audio(pcm)) for pcm in self._held]
        held_ms = round(sum(pcm_ms(len(pcm)) for pcm in self._held))
        actions.append(Publish("session.connected", {"session_id": self.session_id,
                                                     "replayed_items": len(self._replay),
                                                     "held_audio_ms": held_ms}))
        self._replay, self.holding = [], False
        self._held.clear()
        return actions

    def _on_speech_started(self, event: dict[str, Any]) -> list[Action]:
        self.user_speaking = True
        turn_detection = (self.session.get("audio", {}).get("input", {}).get("turn_detection") or {})
        server_cancels = bool(turn_detection.get("interrupt_response", True))
        actions = self._begin_interruption(server_cancels=server_cancels)
        actions.append(Publish("user.speech.started", {"item_id": event.get("item_id"),
                                                       "audio_start_ms": event.get("audio_start_ms")}))
        return actions

    def _on_speech_stopped(self, event: dict[str, Any]) -> list[Action]:
        self.user_speaking = False
        self.awaiting_response = True
        return [Publish("user.speech.stopped", {"item_id": event.get("item_id"),
                                                "audio_end_ms": event.get("audio_end_ms")})]

    def _on_response_created(self, event: dict[str, Any]) -> list[Action]:
        response = event.get("response") or {}
        self.response_id = response.get("id")
        self.awaiting_response = False
        return [Publish("assistant.response.started", {"response_id": self.response_id})]

    def _on_output_item_added(self, event: dict[str, Any]) -> list[Action]:
        item = event.get("item") or {}
        if item.get("type") == "message" and item.get("role") == "assistant":
            self.item = AssistantItem(item_id=item["id"], response_id=event.get("response_id"))
        return []

    def _on_audio_delta(self, event: dict[str, Any]) -> list[Action]:
        if event.get("response_id") in self._dropped_responses:
            return []  # late audio of a response the user cut off
        item = self.item
        if item is None or event.get("item_id") not in (None, item.item_id):
            return []
        pcm = decode_audio(event)
        actions: list[Action] = []
        if item.received_ms == 0 and pcm:
            actions.append(Publish("assistant.audio.started", {"item_id": item.item_id}))
        item.received_ms += pcm_ms(len(pcm))
        self.audio_playing = True
        actions.insert(0, Play(item.item_id, pcm))
        return actions

    def _on_transcript_delta(self, event: dict[str, Any]) -> list[Action]:
        if event.get("response_id") in self._dropped_responses or self.item is None:
            return []
        delta = str(event.get("delta") or "")
        self.item.transcript += delta
        return [Publish("assistant.transcript.delta", {"item_id": self.item.item_id, "delta": delta})]

    def _on_transcript_done(self, event: dict[str, Any]) -> list[Action]:
        item_id = event.get("item_id")
        if item_id in self._cut_transcripts:
            self._cut_transcripts.discard(item_id)
            return []  # already reported, cut to what was heard
        text = str(event.get("transcript") or event.get("text") or "")
        item = self.item
        if item is not None and item.item_id == item_id and self.audio_playing:
            item.final_transcript = text  # reported once heard (or cut when interrupted)
            return []
        return [self._transcript_completed(item_id, text)]

    def _on_response_done(self, event: dict[str, Any]) -> list[Action]:
        response = event.get("response") or {}
        if response.get("id") == self.response_id:
            self.response_id = None
        self._dropped_responses.discard(response.get("id"))
        actions: list[Action] = [Publish("assistant.response.done", {
            "response_id": response.get("id"), "status": response.get("status"),
            "usage": response.get("usage") or {}})]
        if self._response_wanted and self.response_id is None:
            self._response_wanted = False
            actions.extend(self._ask_for_response())
        return actions

    def _on_response_text_done(self, event: dict[str, Any]) -> list[Action]:
        """Text-only sessions: the text is the assistant's transcript."""
        return [self._transcript_completed(event.get("item_id"), str(event.get("text") or ""))]

    def _on_user_transcript_delta(self, event: dict[str, Any]) -> list[Action]:
        return [Publish("user.transcript.delta", {"item_id": event.get("item_id"),
                                                  "delta": str(event.get("delta") or "")})]

    def _on_user_transcript(self, event: dict[str, Any]) -> list[Action]:
        return [Publish("user.transcript.completed", {"item_id": event.get("item_id"),
                                                      "text": str(event.get("transcript") or "")})]

    def _on_user_transcript_failed(self, event: dict[str, Any]) -> list[Action]:
        error = event.get("error") or {}
        return [Publish("user.transcript.failed", {"item_id": event.get("item_id"),
                                                   "message": str(error.get("message") or "failed")})]

    def _on_function_call(self, event: dict[str, Any]) -> list[Action]:
        call_id, name = str(event.get("call_id") or ""), str(event.get("name") or "")
        arguments = str(event.get("arguments") or "{}")
        if not call_id or not name or event.get("response_id") in self._dropped_responses:
            return []
        self._tools_running.add(call_id)
        return [Publish("tool.called", {"call_id": call_id, "name": name, "arguments": arguments}),
                CallTool(call_id, name, arguments)]

    def _on_rate_limits(self, event: dict[str, Any]) -> list[Action]:
        return [Publish("rate_limits.updated", {"rate_limits": event.get("rate_limits") or []})]

    def _on_error(self, event: dict[str, Any]) -> list[Action]:
        error = ServerError.from_event(event)
        if error.fatal:
            self.error = f"{error.code}: {error.message}"
        return [Publish("error", {"code": error.code, "message": error.message,
                                  "event_id": error.event_id, "fatal": error.fatal})]


_HANDLERS = {
    "session.created": Conversation._on_session_created,
    "input_audio_buffer.speech_started": Conversation._on_speech_started,
    "input_audio_buffer.speech_stopped": Conversation._on_speech_stopped,
    "response.created": Conversation._on_response_created,
    "response.output_item.added": Conversation._on_output_item_added,
    "response.output_audio.delta": Conversation._on_audio_delta,
    "response.output_audio_transcript.delta": Conversation._on_transcript_delta,
    "response.output_audio_transcript.done": Conversation._on_transcript_done,
    "response.done": Conversation._on_response_done,
    "response.output_text.delta": Conversation._on_transcript_delta,
    "response.output_text.done": Conversation._on_response_text_done,
    "conversation.item.input_audio_transcription.delta": Conversation._on_user_transcript_delta,
    "conversation.item.input_audio_transcription.completed": Conversation._on_user_transcript,
    "conversation.item.input_audio_transcription.failed": Conversation._on_user_transcript_failed,
    "rate_limits.updated": Conversation._on_rate_limits,
    "response.function_call_arguments.done": Conversation._on_function_call,
    "error": Conversation._on_error,
}
