"""One assistant response, streamed step by step (no I/O: the server paces the steps).

A response is planned up front (its text, and its audio unless it is text-only),
then :meth:`ResponseStream.step` hands out the events of one chunk at a time with
the playing time that chunk stands for; the server sleeps that long divided by its
speed factor, so audio arrives faster than real time but not all at once, like the
real service. The transcript is spread over the audio chunks in proportion.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from voiced.pcm import pcm_bytes
from voiced.simulator.audio import duration_ms, encode_base64
from voiced.simulator.conversation import Item
from voiced.simulator.ids import new_id
from voiced.simulator.usage import Tokens, audio_tokens, text_tokens, usage_wire

AUDIO_CHUNK_MS = 100
#: Pace of text-only responses: one word per step of this many seconds.
TEXT_STEP_S = 0.05

Modality = Literal["audio", "text"]


@dataclass(frozen=True)
class ResponsePlan:
    """What the assistant will say: `text` and, for audio responses, its `audio`."""

    modality: Modality
    text: str
    audio: bytes = b""


@dataclass(frozen=True)
class Step:
    """Events to send now, then `pace_s` seconds of (real-time) playing to wait."""

    events: list[dict[str, Any]]
    pace_s: float


def assistant_message_item(modality: Modality) -> Item:
    """A new, empty assistant message to stream audio (and its transcript) or text into."""
    audio = modality == "audio"
    content = {"type": "output_audio", "transcript": ""} if audio else {"type": "output_text", "text": ""}
    return Item(
        wire={
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [content],
        },
        has_audio=audio,
    )


class ResponseStream:
    """The lifecycle of one response: created, its chunks, then done or cancelled."""

    def __init__(
        self,
        *,
        plan: ResponsePlan,
        item: Item,
        response_id: str,
        conversation_id: str,
        input_tokens: Tokens,
        audio_format: dict[str, Any],
        voice: Any,
        new_event_id: Callable[[], str],
    ) -> None:
        self.plan = plan
        self.item = item
        self.id = response_id
        self.finished = False
        self._conversation_id = conversation_id
        self._input = input_tokens
        self._audio_format = audio_format
        self._voice = voice
        self._event_id = new_event_id
        self._words = plan.text.split(" ") if plan.text else []
        self._chunks = (
            max(1, math.ceil(duration_ms(plan.audio) / AUDIO_CHUNK_MS))
            if plan.modality == "audio"
            else max(1, len(self._words))
        )
        self._next_chunk = 0
        self._text_sent = ""

    # -- what the session sends ---------------------------------------------------

    def start_events(self, previous_item_id: str | None) -> list[dict[str, Any]]:
        """`response.created` through `response.content_part.added`."""
        common = self._common()
        part = {"type": "audio", "transcript": ""} if self._audio else {"type": "text", "text": ""}
        return [
            self._event("response.created", response=self._response("in_progress")),
            self._event("rate_limits.updated", rate_limits=self._rate_limits()),
            self._event(
                "response.output_item.added",
                response_id=self.id,
                output_index=0,
                item=self.item.snapshot(),
            ),
            self._event(
                "conversation.item.added",
                previous_item_id=previous_item_id,
                item=self.item.snapshot(),
            ),
            self._event("response.content_part.added", **common, part=part),
        ]

    def step(self) -> Step:
        """The next chunk's deltas; the last step also carries every `.done` event."""
        index = self._next_chunk
        self._next_chunk += 1
        events: list[dict[str, Any]] = []
        common = self._common()
        if self._audio:
            start, end = index * AUDIO_CHUNK_MS, (index + 1) * AUDIO_CHUNK_MS
            pcm = self.plan.audio[pcm_bytes(start) : pcm_bytes(end)]
            if pcm:
                events.append(self._event("response.output_audio.delta", **common, delta=encode_base64(pcm)))
                self.item.sent_ms += duration_ms(pcm)
            pace_s = duration_ms(pcm) / 1000
            delta = self._transcript_until(math.ceil(len(self._words) * (index + 1) / self._chunks))
            if delta:
                events.append(self._event("response.output_audio_transcript.delta", **common, delta=delta))
        else:
            delta = self._transcript_until(index + 1)
            if delta:
                events.append(self._event("response.output_text.delta", **common, delta=delta))
            pace_s = TEXT_STEP_S
        self._set_content_text(self._text_sent)
        if self._next_chunk >= self._chunks:
            events.extend(self._done_events())
        return Step(events, pace_s)

    def cancel_events(self, reason: Literal["client_cancelled", "turn_detected"]) -> list[dict[str, Any]]:
        """Stop here: close the item as incomplete and report `response.done` cancelled."""
        return self._finish("incomplete", "cancelled", reason)

    # -- internals ------------------------------------------------------------------

    @property
    def _audio(self) -> bool:
        return self.plan.modality == "audio"

    def _transcript_until(self, words: int) -> str:
        target = " ".join(self._words[:words])
        delta = target[len(self._text_sent) :]
        self._text_sent = target
        return delta

    def _set_content_text(self, text: str) -> None:
        self.item.text = text
        key = "transcript" if self._audio else "text"
        self.item.wire["content"][0][key] = text

    def _done_events(self) -> list[dict[str, Any]]:
        common = self._common()
        events = (
            [
                self._event("response.output_audio.done", **common),
                self._event("response.output_audio_transcript.done", **common, transcript=self._text_sent),
            ]
            if self._audio
            else [self._event("response.output_text.done", **common, text=self._text_sent)]
        )
        return events + self._finish("completed", "completed", None)

    def _finish(self, item_status: str, status: str, reason: str | None) -> list[dict[str, Any]]:
        content = self.item.wire["content"][0]
        part = (
            {"type": "audio", "transcript": content.get("transcript", "")}
            if self._audio
            else {"type": "text", "text": content.get("text", "")}
        )
        done = self._event("response.content_part.done", **self._common(), part=part)
        return [done, *self._close(item_status, status, reason)]

    def _close(self, item_status: str, status: str, reason: str | None) -> list[dict[str, Any]]:
        """The item is done, then the response: the last events of every response."""
        self.finished = True
        self.item.wire["status"] = item_status
        details = {"type": status, "reason": reason} if reason else None
        return [
            self._event(
                "response.output_item.done",
                response_id=self.id,
                output_index=0,
                item=self.item.snapshot(),
            ),
            self._event("conversation.item.done", item=self.item.snapshot()),
            self._event(
                "response.done",
                response=self._response(status, details=details, usage=self._usage()),
            ),
        ]

    def _usage(self) -> dict[str, Any]:
        out = Tokens(
            text=text_tokens(self._text_sent),
            audio=audio_tokens(self.item.sent_ms, assistant=True) if self._audio else 0,
        )
        return usage_wire(self._input, out)

    def _response(
        self,
        status: str,
        *,
        details: dict[str, Any] | None = None,
        usage: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": details,
            "output": [self.item.snapshot()] if status != "in_progress" else [],
            "conversation_id": self._conversation_id,
            "output_modalities": [self.plan.modality],
            "max_output_tokens": "inf",
            "audio": {"output": {"format": self._audio_format, "voice": self._voice}},
            "usage": usage,
            "metadata": None,
        }

    def _rate_limits(self) -> list[dict[str, Any]]:
        return [
            {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
            {
                "name": "tokens",
                "limit": 40_000,
                "remaining": max(0, 40_000 - self._input.total),
                "reset_seconds": 1.0,
            },
        ]

    def _common(self) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": self.item.id, "output_index": 0, "content_index": 0}

    def _event(self, event_type: str, **fields: Any) -> dict[str, Any]:
        return {"type": event_type, "event_id": self._event_id(), **fields}
