"""One Realtime session: client events in, server events out, no I/O.

The server feeds every WebSocket message to :meth:`Session.receive` and sends what
it returns (its `later` events after their delay); while a response is active it
calls :meth:`Session.stream_step` and waits the returned pace between steps.
Keeping the protocol here, away from sockets and clocks, lets it be tested by
calling methods. The input buffer and its VAD live in
:mod:`~voiced.simulator.input_buffer`, what to answer in :mod:`~voiced.simulator.answers`.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voiced.simulator import transcription
from voiced.simulator.answers import Answers
from voiced.simulator.audio import decode_base64_pcm, duration_ms
from voiced.simulator.conversation import Conversation, Item, item_text
from voiced.simulator.errors import ClientError, error_event
from voiced.simulator.function_calls import FunctionCallStream, arguments_json, function_call_item
from voiced.simulator.ids import new_id
from voiced.simulator.input_buffer import InputBuffer
from voiced.simulator.responses import Modality, ResponseStream, Step, assistant_message_item
from voiced.simulator.script import FunctionCall, Script
from voiced.simulator.session_config import default_session, merge_session
from voiced.simulator.usage import input_tokens
from voiced.simulator.vad import SpeechStarted, SpeechStopped
from voiced.simulator.validation import check_client_event, parse_client_event

log = logging.getLogger("voiced.simulator")

#: The service refuses to commit less than this.
MIN_COMMIT_MS = 100

ServerEvent = dict[str, Any]


@dataclass(frozen=True)
class Later:
    """Events to send `delay_s` wall-clock seconds from now (a late transcription)."""

    delay_s: float
    events: list[ServerEvent]


@dataclass
class Received:
    """What became of one client message: the event as parsed, why it was refused, the replies.

    `later` holds replies that are due after a delay, in the order they were decided.
    """

    event: Any
    invalid: str | None = None
    replies: list[ServerEvent] = field(default_factory=list)
    later: list[Later] = field(default_factory=list)


class Session:
    """The state of one connection: configuration, input buffer, conversation, response."""

    def __init__(
        self,
        *,
        model: str | None = None,
        script: Script | None = None,
        strict_check: Callable[[dict[str, Any]], None] | None = None,
        session_ids: bool = True,
    ) -> None:
        self.config = default_session(model)
        #: False: `session.created`/`updated` carry no `id`, which the GA schema allows.
        self._session_ids = session_ids
        self.conversation = Conversation(id=new_id("conv"))
        self.response: ResponseStream | None = None
        self._answers = Answers(script)
        self._strict_check = strict_check
        self._input = InputBuffer(self._turn_detection)
        self._assistant_audio_sent = False
        self._later: list[Later] = []
        #: Calls a fault makes the model start as soon as no response is active.
        self._unasked_calls: list[FunctionCall] = []

    # -- the session's surface ----------------------------------------------------

    def open(self) -> list[ServerEvent]:
        """What the server says first."""
        return [self._event("session.created", session=self._described())]

    def receive(self, raw: str | bytes) -> Received:
        """Handle one client message; refusals become `error` events, never exceptions."""
        try:
            event = parse_client_event(raw)
        except ClientError as exc:
            return Received(raw, exc.message, [self._error(exc, None)])
        client_event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        self._later = []
        try:
            check_client_event(event)
            if self._strict_check is not None:
                self._strict_check(event)
            handler = getattr(self, "_on_" + event["type"].replace(".", "_"))
            return Received(event, None, handler(event), self._later)
        except ClientError as exc:
            return Received(event, exc.message, [self._error(exc, client_event_id)], self._later)

    def stream_step(self) -> Step | None:
        """The active response's next step, or None when no response is streaming."""
        if self.response is None:
            return None
        step = self.response.step()
        self._assistant_audio_sent = self._assistant_audio_sent or self.response.item.sent_ms > 0
        if self.response.finished:
            self.response = None
            step = Step(step.events + self._start_unasked_call(), step.pace_s)
        return step

    def call_function(self, call: FunctionCall) -> list[ServerEvent]:
        """Make the model call `call` unasked (a fault): now, or once the active response ends.

        Returns the events that start the call's response now, if it starts now; it
        streams like any response, and the next response answers with the output.
        """
        self._unasked_calls.append(call)
        return [] if self.response is not None else self._start_unasked_call()

    @property
    def input_ms(self) -> int:
        """Milliseconds of audio received in this session: the input timeline."""
        return self._input.input_ms

    # -- client events (looked up by name from the event type) ----------------------

    def _on_session_update(self, event: dict[str, Any]) -> list[ServerEvent]:
        update = event["session"]
        voice = update.get("audio", {}).get("output", {}).get("voice")
        if voice is not None and self._assistant_audio_sent and voice != self._voice:
            raise ClientError(
                "cannot_update_voice",
                "Cannot update a conversation's voice if assistant audio is present.",
                "session.audio.output.voice",
            )
        self.config = merge_session(self.config, update)
        self._input.configure(self._turn_detection)
        return [self._event("session.updated", session=self._described())]

    def _on_input_audio_buffer_append(self, event: dict[str, Any]) -> list[ServerEvent]:
        replies: list[ServerEvent] = []
        for vad_event in self._input.append(decode_base64_pcm(event["audio"])):
            if isinstance(vad_event, SpeechStarted):
                replies += self._speech_started(vad_event.audio_start_ms)
            elif isinstance(vad_event, SpeechStopped):
                replies += self._speech_stopped(vad_event.audio_end_ms)
        self._input.forget_idle_audio()
        return replies

    def _on_input_audio_buffer_commit(self, event: dict[str, Any]) -> list[ServerEvent]:
        buffered = self._input.buffered_ms
        if buffered < MIN_COMMIT_MS:
            raise ClientError(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered}.00ms of audio.",
            )
        item_id = self._input.speech_item_id or new_id("item")
        self._input.stop_detecting_speech()
        return self._commit(item_id, self.input_ms)

    def _on_input_audio_buffer_clear(self, event: dict[str, Any]) -> list[ServerEvent]:
        self._input.clear()
        return [self._event("input_audio_buffer.cleared")]

    def _on_conversation_item_create(self, event: dict[str, Any]) -> list[ServerEvent]:
        wire = copy.deepcopy(event["item"])
        kind = wire.get("type")
        if kind not in ("message", "function_call", "function_call_output"):
            raise ClientError("invalid_value", f"Invalid value for 'item.type': {kind!r}.", "item.type")
        if kind == "message" and wire.get("role") not in ("user", "assistant", "system"):
            raise ClientError("invalid_value", "'item.role' must be user, assistant or system.", "item.role")
        wire.setdefault("id", new_id("item"))
        if self.conversation.get(wire["id"]) is not None:
            raise ClientError(
                "item_create_duplicate_item_id", f"Item {wire['id']} already exists.", "item.id"
            )
        wire.update(object="realtime.item", status="completed")
        item = Item(wire=wire, text=item_text(wire))
        try:
            previous = self.conversation.add(item, event.get("previous_item_id"))
        except KeyError:
            raise ClientError(
                "item_create_invalid_previous_item_id",
                f"previous_item_id {event['previous_item_id']!r} does not exist.",
                "previous_item_id",
            ) from None
        return self._item_added_done(item, previous)

    def _on_conversation_item_retrieve(self, event: dict[str, Any]) -> list[ServerEvent]:
        item = self._item(event["item_id"], "item_retrieve_invalid_item_id")
        return [self._event("conversation.item.retrieved", item=item.snapshot(with_audio=True))]

    def _on_conversation_item_truncate(self, event: dict[str, Any]) -> list[ServerEvent]:
        item = self._item(event["item_id"], "item_truncate_invalid_item_id")
        if item.role != "assistant" or not item.has_audio:
            raise ClientError(
                "item_truncate_invalid_item_id",
                f"Item {item.id} is not an assistant message with audio: only those can be truncated.",
                "item_id",
            )
        if event["content_index"] != 0:
            raise ClientError("invalid_value", "'content_index' must be 0.", "content_index")
        end_ms = event["audio_end_ms"]
        if end_ms > item.sent_ms:
            raise ClientError(
                "invalid_value",
                f"Audio content of {item.sent_ms}ms is already shorter than {end_ms}ms.",
                "audio_end_ms",
            )
        item.truncated_ms = end_ms
        # As the service does: no text the user has not heard stays in the context.
        item.text = ""
        item.wire["content"][0]["transcript"] = ""
        return [
            self._event("conversation.item.truncated", item_id=item.id, content_index=0, audio_end_ms=end_ms)
        ]

    def _on_conversation_item_delete(self, event: dict[str, Any]) -> list[ServerEvent]:
        item = self._item(event["item_id"], "item_delete_invalid_item_id")
        self.conversation.delete(item.id)
        return [self._event("conversation.item.deleted", item_id=item.id)]

    def _on_response_create(self, event: dict[str, Any]) -> list[ServerEvent]:
        if self.response is not None:
            raise ClientError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self.response.id}. "
                "Wait until the response is finished before creating a new one.",
            )
        options = event.get("response") or {}
        modalities = options.get("output_modalities") or self.config["output_modalities"]
        return self._start_response("audio" if "audio" in modalities else "text", options.get("instructions"))

    def _on_response_cancel(self, event: dict[str, Any]) -> list[ServerEvent]:
        wanted = event.get("response_id")
        if self.response is None or (wanted is not None and wanted != self.response.id):
            raise ClientError(
                "response_cancel_not_active",
                "Cancellation failed: no active response found.",
            )
        return self._cancel_response("client_cancelled")

    # -- turns ------------------------------------------------------------------------

    def _speech_started(self, start_ms: int) -> list[ServerEvent]:
        replies = [
            self._event(
                "input_audio_buffer.speech_started",
                audio_start_ms=start_ms,
                item_id=self._input.speech_item_id,
            )
        ]
        if self.response is not None and self._turn_detection.get("interrupt_response", True):
            replies += self._cancel_response("turn_detected")
        return replies

    def _speech_stopped(self, end_ms: int) -> list[ServerEvent]:
        item_id = self._input.speech_item_id or new_id("item")
        replies = [self._event("input_audio_buffer.speech_stopped", audio_end_ms=end_ms, item_id=item_id)]
        replies += self._commit(item_id, end_ms)
        if self._turn_detection.get("create_response", True):
            if self.response is None:
                replies += self._start_response(self._session_modality)
            else:
                log.info("speech stopped during response %s: no new response", self.response.id)
        return replies

    def _commit(self, item_id: str, end_ms: int) -> list[ServerEvent]:
        """Turn the buffered audio up to `end_ms` into a user item, transcribed if asked."""
        pcm = self._input.take(end_ms)
        turn = self._answers.user_turn()
        transcript = (turn and turn.transcript) or (
            f"(simulated transcript of {duration_ms(pcm) / 1000:.1f} s of speech)"
        )
        transcribing = self.config["audio"]["input"].get("transcription") is not None
        item = Item(
            wire={
                "id": item_id,
                "object": "realtime.item",
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": [{"type": "input_audio", "transcript": None}],
            },
            text=transcript,
            audio=pcm,
            has_audio=True,
        )
        previous = self.conversation.add(item)
        replies = [self._event("input_audio_buffer.committed", item_id=item_id, previous_item_id=previous)]
        replies += self._item_added_done(item, previous)
        if not transcribing:
            return replies
        if turn is not None and turn.transcript_fails:
            events = transcription.failed_events(self._event, item_id)
        else:
            item.wire["content"][0]["transcript"] = transcript
            events = transcription.completed_events(self._event, item_id, transcript, duration_ms(pcm))
        if turn is not None and turn.transcript_delay_s > 0:
            self._later.append(Later(turn.transcript_delay_s, events))
            return replies
        return replies + events

    # -- responses ----------------------------------------------------------------------

    def _start_response(self, modality: Modality, instructions: Any = None) -> list[ServerEvent]:
        """Start the next response: a text its instructions quote, a scripted call, or an answer."""
        call = self._answers.function_call(self.config.get("tools") or [], self.config.get("tool_choice"),
                                           instructions)
        if call is not None:
            return self._start_call(call, modality)
        item = assistant_message_item(modality)
        plan = self._answers.plan(modality, self.conversation, instructions)
        self.response = ResponseStream(plan=plan, **self._response_fields(item))
        return self.response.start_events(self.conversation.add(item))

    def _start_call(self, call: FunctionCall, modality: Modality) -> list[ServerEvent]:
        item = function_call_item(call.name)
        self.response = FunctionCallStream(
            name=call.name,
            arguments=arguments_json(call.arguments),
            modality=modality,
            **self._response_fields(item),
        )
        return self.response.start_events(self.conversation.add(item))

    def _start_unasked_call(self) -> list[ServerEvent]:
        if not self._unasked_calls:
            return []
        self._answers.called_unasked()
        return self._start_call(self._unasked_calls.pop(0), self._session_modality)

    def _response_fields(self, item: Item) -> dict[str, Any]:
        """What every response stream is built with, for `item` in this session."""
        return dict(
            item=item,
            response_id=new_id("resp"),
            conversation_id=self.conversation.id,
            input_tokens=input_tokens(self.conversation, self.config.get("instructions") or ""),
            audio_format=copy.deepcopy(self.config["audio"]["output"]["format"]),
            voice=self._voice,
            new_event_id=lambda: new_id("event"),
        )

    def _cancel_response(self, reason: str) -> list[ServerEvent]:
        assert self.response is not None
        events = self.response.cancel_events(reason)  # type: ignore[arg-type]
        self._assistant_audio_sent = self._assistant_audio_sent or self.response.item.sent_ms > 0
        self.response = None
        return events + self._start_unasked_call()

    # -- helpers ------------------------------------------------------------------------

    def _item(self, item_id: str, code: str) -> Item:
        item = self.conversation.get(item_id)
        if item is None:
            raise ClientError(code, f"Item with item_id '{item_id}' not found.", "item_id")
        return item

    def _item_added_done(self, item: Item, previous: str | None) -> list[ServerEvent]:
        return [
            self._event("conversation.item.added", previous_item_id=previous, item=item.snapshot()),
            self._event("conversation.item.done", previous_item_id=previous, item=item.snapshot()),
        ]

    @property
    def _turn_detection(self) -> dict[str, Any]:
        return self.config["audio"]["input"].get("turn_detection") or {}

    @property
    def _voice(self) -> Any:
        return self.config["audio"]["output"].get("voice")

    @property
    def _session_modality(self) -> Modality:
        return "text" if "audio" not in self.config["output_modalities"] else "audio"

    def _error(self, exc: ClientError, client_event_id: str | None) -> ServerEvent:
        log.info("refused client event %s: %s (%s)", client_event_id, exc.message, exc.code)
        return error_event(
            new_id("event"), exc.code, exc.message, param=exc.param, client_event_id=client_event_id
        )

    def _described(self) -> dict[str, Any]:
        """The session object as the server shows it (with its `id` unless told not to)."""
        return {k: v for k, v in copy.deepcopy(self.config).items() if k != "id" or self._session_ids}

    def _event(self, event_type: str, **fields: Any) -> ServerEvent:
        return {"type": event_type, "event_id": new_id("event"), **fields}
