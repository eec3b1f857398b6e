"""One Realtime session: client events in, server events out, no I/O.

The server feeds every WebSocket message to :meth:`Session.receive` and sends what
it returns; while a response is active it calls :meth:`Session.stream_step` and
waits the returned pace between steps. Keeping the protocol here, away from
sockets and clocks, lets it be tested by calling methods.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voiced.simulator.audio import (
    BYTES_PER_MS,
    decode_base64_pcm,
    duration_ms,
    tone,
    tone_for_text,
)
from voiced.simulator.conversation import Conversation, Item
from voiced.simulator.errors import ClientError, error_event
from voiced.simulator.ids import new_id
from voiced.simulator.responses import Modality, ResponsePlan, ResponseStream, Step
from voiced.simulator.script import Script, ScriptTurn
from voiced.simulator.session_config import default_session, merge_session
from voiced.simulator.usage import input_tokens, text_tokens
from voiced.simulator.vad import EnergyVad, SpeechStarted, SpeechStopped
from voiced.simulator.validation import check_client_event, parse_client_event

log = logging.getLogger("voiced.simulator")

#: The service refuses to commit less than this.
MIN_COMMIT_MS = 100
#: While nobody speaks, the input buffer keeps only this much (plus the prefix padding).
IDLE_BUFFER_MS = 1000
GREETING = "Hello from the voiced simulator."

ServerEvent = dict[str, Any]


@dataclass
class Received:
    """What became of one client message: the event as parsed, why it was refused, the replies."""

    event: Any
    invalid: str | None = None
    replies: list[ServerEvent] = field(default_factory=list)


class Session:
    """The state of one connection: configuration, input buffer, conversation, response."""

    def __init__(
        self,
        *,
        model: str | None = None,
        script: Script | None = None,
        strict_check: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = default_session(model)
        self.conversation = Conversation(id=new_id("conv"))
        self.response: ResponseStream | None = None
        self._turns = list(script.turns) if script else []
        self._pending_turn: ScriptTurn | None = None
        self._strict_check = strict_check
        self._buffer = bytearray()
        self._buffer_start_ms = 0
        self._received_bytes = 0
        self._speech_item_id: str | None = None
        self._assistant_audio_sent = False
        self._vad = self._make_vad()

    # -- the session's surface ----------------------------------------------------

    def open(self) -> list[ServerEvent]:
        """What the server says first."""
        return [self._event("session.created", session=copy.deepcopy(self.config))]

    def receive(self, raw: str | bytes) -> Received:
        """Handle one client message; refusals become `error` events, never exceptions."""
        try:
            event = parse_client_event(raw)
        except ClientError as exc:
            return Received(raw, exc.message, [self._error(exc, None)])
        client_event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        try:
            check_client_event(event)
            if self._strict_check is not None:
                self._strict_check(event)
            handler = getattr(self, "_on_" + event["type"].replace(".", "_"))
            return Received(event, None, handler(event))
        except ClientError as exc:
            return Received(event, exc.message, [self._error(exc, client_event_id)])

    def stream_step(self) -> Step | None:
        """The active response's next step, or None when no response is streaming."""
        if self.response is None:
            return None
        step = self.response.step()
        self._assistant_audio_sent = self._assistant_audio_sent or self.response.item.sent_ms > 0
        if self.response.finished:
            self.response = None
        return step

    @property
    def input_ms(self) -> int:
        """Milliseconds of audio received in this session: the input timeline."""
        return self._received_bytes // BYTES_PER_MS

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
        old_detection = self._turn_detection
        self.config = merge_session(self.config, update)
        if self._turn_detection != old_detection:
            self._vad = self._make_vad()
            self._speech_item_id = None
        return [self._event("session.updated", session=copy.deepcopy(self.config))]

    def _on_input_audio_buffer_append(self, event: dict[str, Any]) -> list[ServerEvent]:
        pcm = decode_base64_pcm(event["audio"])
        self._buffer += pcm
        self._received_bytes += len(pcm)
        if self._vad is None:
            return []
        replies: list[ServerEvent] = []
        for vad_event in self._vad.feed(pcm, floor_ms=self._buffer_start_ms):
            if isinstance(vad_event, SpeechStarted):
                replies += self._speech_started(vad_event.audio_start_ms)
            elif isinstance(vad_event, SpeechStopped):
                replies += self._speech_stopped(vad_event.audio_end_ms)
        if not self._vad.speaking:
            self._forget_idle_audio()
        return replies

    def _on_input_audio_buffer_commit(self, event: dict[str, Any]) -> list[ServerEvent]:
        buffered = duration_ms(bytes(self._buffer))
        if buffered < MIN_COMMIT_MS:
            raise ClientError(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered}.00ms of audio.",
            )
        item_id = self._speech_item_id or new_id("item")
        if self._vad is not None:
            self._vad.reset()
        return self._commit(item_id, self.input_ms)

    def _on_input_audio_buffer_clear(self, event: dict[str, Any]) -> list[ServerEvent]:
        self._drop_buffer_until(self.input_ms)
        self._speech_item_id = None
        if self._vad is not None:
            self._vad.reset()
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
        item = Item(wire=wire, text=_item_text(wire))
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
        return self._start_response("text" if "audio" not in modalities else "audio")

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
        self._speech_item_id = new_id("item")
        self._drop_buffer_until(start_ms)
        replies = [
            self._event(
                "input_audio_buffer.speech_started",
                audio_start_ms=start_ms,
                item_id=self._speech_item_id,
            )
        ]
        if self.response is not None and self._turn_detection.get("interrupt_response", True):
            replies += self._cancel_response("turn_detected")
        return replies

    def _speech_stopped(self, end_ms: int) -> list[ServerEvent]:
        item_id = self._speech_item_id or new_id("item")
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
        pcm = bytes(self._buffer[: (end_ms - self._buffer_start_ms) * BYTES_PER_MS])
        self._drop_buffer_until(end_ms)
        self._speech_item_id = None
        self._pending_turn = self._next_turn()
        transcript = (self._pending_turn and self._pending_turn.transcript) or (
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
        if transcribing:
            item.wire["content"][0]["transcript"] = transcript
            replies += self._transcription_events(item_id, transcript, duration_ms(pcm))
        return replies

    def _transcription_events(self, item_id: str, transcript: str, ms: int) -> list[ServerEvent]:
        audio = max(1, ms // 100)
        text = text_tokens(transcript)
        return [
            self._event(
                "conversation.item.input_audio_transcription.delta",
                item_id=item_id,
                content_index=0,
                delta=transcript,
            ),
            self._event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item_id,
                content_index=0,
                transcript=transcript,
                usage={
                    "type": "tokens",
                    "input_tokens": audio,
                    "output_tokens": text,
                    "total_tokens": audio + text,
                    "input_token_details": {"audio_tokens": audio, "text_tokens": 0},
                },
            ),
        ]

    # -- responses ----------------------------------------------------------------------

    def _start_response(self, modality: Modality) -> list[ServerEvent]:
        plan = self._plan(modality)
        content = (
            {"type": "output_audio", "transcript": ""}
            if modality == "audio"
            else {"type": "output_text", "text": ""}
        )
        item = Item(
            wire={
                "id": new_id("item"),
                "object": "realtime.item",
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [content],
            },
            has_audio=modality == "audio",
        )
        tokens = input_tokens(self.conversation, self.config.get("instructions") or "")
        previous = self.conversation.add(item)
        self.response = ResponseStream(
            plan=plan,
            item=item,
            response_id=new_id("resp"),
            conversation_id=self.conversation.id,
            input_tokens=tokens,
            audio_format=copy.deepcopy(self.config["audio"]["output"]["format"]),
            voice=self._voice,
            new_event_id=lambda: new_id("event"),
        )
        return self.response.start_events(previous)

    def _plan(self, modality: Modality) -> ResponsePlan:
        """Decide what to say: the script's turn where it says so, else echo the user."""
        turn = self._pending_turn or self._next_turn()
        self._pending_turn = None
        spec = turn.response if turn else None
        user = self.conversation.last_user_item()
        text = spec.text if spec and spec.text is not None else (user.text if user else GREETING)
        if modality == "text":
            return ResponsePlan("text", text)
        if spec is not None and spec.pcm is not None:
            audio = spec.pcm
        elif user is not None and user.audio:
            audio = user.audio
        else:
            audio = tone_for_text(text) if text else tone(0.3)
        return ResponsePlan("audio", text, audio)

    def _cancel_response(self, reason: str) -> list[ServerEvent]:
        assert self.response is not None
        events = self.response.cancel_events(reason)  # type: ignore[arg-type]
        self._assistant_audio_sent = self._assistant_audio_sent or self.response.item.sent_ms > 0
        self.response = None
        return events

    # -- helpers ------------------------------------------------------------------------

    def _next_turn(self) -> ScriptTurn | None:
        return self._turns.pop(0) if self._turns else None

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

    def _drop_buffer_until(self, ms: int) -> None:
        drop = max(0, ms - self._buffer_start_ms) * BYTES_PER_MS
        del self._buffer[:drop]
        self._buffer_start_ms = max(self._buffer_start_ms, ms)

    def _forget_idle_audio(self) -> None:
        keep_ms = IDLE_BUFFER_MS + int(_setting(self._turn_detection, "prefix_padding_ms", 300))
        if self.input_ms - self._buffer_start_ms > 2 * keep_ms:
            self._drop_buffer_until(self.input_ms - keep_ms)

    def _make_vad(self) -> EnergyVad | None:
        detection = self._turn_detection
        if not detection:
            return None
        return EnergyVad(
            threshold=_setting(detection, "threshold", 0.5),
            prefix_padding_ms=int(_setting(detection, "prefix_padding_ms", 300)),
            silence_duration_ms=int(_setting(detection, "silence_duration_ms", 500)),
            position_ms=self.input_ms,
        )

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

    def _event(self, event_type: str, **fields: Any) -> ServerEvent:
        return {"type": event_type, "event_id": new_id("event"), **fields}


def _setting(detection: dict[str, Any], name: str, default: float) -> float:
    """A turn detection number, its default when absent or null (semantic_vad has none)."""
    value = detection.get(name)
    return default if value is None else float(value)


def _item_text(wire: dict[str, Any]) -> str:
    """The words an item carries, for echoing and counting tokens."""
    if wire.get("type") == "function_call":
        return f"{wire.get('name', '')}{wire.get('arguments', '')}"
    if wire.get("type") == "function_call_output":
        return str(wire.get("output", ""))
    parts = wire.get("content") or []
    return " ".join(
        str(part.get("text") or part.get("transcript") or "") for part in parts if isinstance(part, dict)
    ).strip()
