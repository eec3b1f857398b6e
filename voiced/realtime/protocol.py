"""The Realtime API's GA wire format, without I/O.

Builds every client event voiced sends and normalises the server events it receives.
Nothing here touches a socket: the connection module carries these dicts, the
conversation module decides which ones to send.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from voiced.pcm import WIRE_RATE

ClientEvent = dict[str, Any]
ServerEvent = dict[str, Any]

FATAL_ERROR_CODES = frozenset(
    {"invalid_api_key", "insufficient_quota", "account_deactivated", "billing_hard_limit_reached"}
)
"""Error codes after which retrying cannot help."""

BETA_ALIASES = {
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "conversation.item.created": "conversation.item.added",
}
"""Beta server event names some local Realtime-compatible servers still send."""

ANNOUNCEMENT = ("Say the text between the lines <<< and >>> exactly as written, word for word, "
                "in the conversation's language and voice; add nothing before or after it.\n<<<\n{text}\n>>>")
"""The instructions of a response that announces a given text (`voicectl announce`)."""


def announcement_instructions(text: str) -> str:
    return ANNOUNCEMENT.format(text=text)


def realtime_url(base_url: str, model: str) -> str:
    """`http://host/v1` -> `ws://host/v1/realtime?model=...` (https -> wss), as the SDK does."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"api.base_url must be http(s):// or ws(s)://, not {base_url!r}")
    path = parts.path.rstrip("/") + "/realtime"
    return urlunsplit((scheme, parts.netloc, path, urlencode({"model": model}), ""))


def session_config(
    *,
    model: str,
    voice: str,
    output_modalities: Sequence[str] = ("audio",),
    instructions: str | None = None,
    prompt_id: str | None = None,
    turn_detection: Literal["server_vad", "semantic_vad"] | None = "server_vad",
    vad_threshold: float = 0.5,
    noise_reduction: Literal["near_field", "far_field"] | None = "far_field",
    transcription_model: str | None = None,
    transcription_language: str | None = None,
) -> dict[str, Any]:
    """The GA `session` object for `session.update`.

    `turn_detection` None means the client commits each turn (push-to-talk);
    `transcription_model` None asks for no transcript of the user's audio.
    """
    detection: dict[str, Any] | None
    if turn_detection is None:
        detection = None
    elif turn_detection == "semantic_vad":
        detection = {"type": "semantic_vad", "eagerness": "auto",
                     "create_response": True, "interrupt_response": True}
    else:
        detection = {"type": "server_vad", "threshold": vad_threshold,
                     "prefix_padding_ms": 300, "silence_duration_ms": 500,
                     "create_response": True, "interrupt_response": True}
    audio_input: dict[str, Any] = {
        "format": {"type": "audio/pcm", "rate": WIRE_RATE},
        "turn_detection": detection,
        "noise_reduction": None if noise_reduction is None else {"type": noise_reduction},
    }
    if transcription_model is not None:
        transcription: dict[str, Any] = {"model": transcription_model}
        if transcription_language:
            transcription["language"] = transcription_language
        audio_input["transcription"] = transcription
    session: dict[str, Any] = {
        "type": "realtime",
        "model": model,
        "output_modalities": list(output_modalities),
        "audio": {
            "input": audio_input,
            "output": {"format": {"type": "audio/pcm", "rate": WIRE_RATE}, "voice": voice},
        },
    }
    if instructions:
        session["instructions"] = instructions
    if prompt_id:
        session["prompt"] = {"id": prompt_id}
    return session


@dataclass
class ClientEvents:
    """Builds client events, each with its own `event_id` so an `error` can name it."""

    prefix: str = "voiced"
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def _event(self, type_: str, **fields: Any) -> ClientEvent:
        return {"type": type_, "event_id": f"{self.prefix}_{next(self._ids)}", **fields}

    def session_update(self, session: Mapping[str, Any]) -> ClientEvent:
        return self._event("session.update", session=dict(session))

    def append_audio(self, pcm: bytes) -> ClientEvent:
        return self._event("input_audio_buffer.append", audio=base64.b64encode(pcm).decode())

    def commit_audio(self) -> ClientEvent:
        return self._event("input_audio_buffer.commit")

    def clear_audio(self) -> ClientEvent:
        return self._event("input_audio_buffer.clear")

    def create_response(self, instructions: str | None = None) -> ClientEvent:
        """Ask for an answer; `instructions` replace the session's for this response alone."""
        if instructions is None:
            return self._event("response.create")
        return self._event("response.create", response={"instructions": instructions})

    def cancel_response(self, response_id: str | None = None) -> ClientEvent:
        if response_id is None:
            return self._event("response.cancel")
        return self._event("response.cancel", response_id=response_id)

    def truncate_item(self, item_id: str, audio_end_ms: int) -> ClientEvent:
        return self._event("conversation.item.truncate", item_id=item_id,
                           content_index=0, audio_end_ms=audio_end_ms)

    def delete_item(self, item_id: str) -> ClientEvent:
        return self._event("conversation.item.delete", item_id=item_id)

    def add_message(self, role: Literal["user", "assistant"], text: str) -> ClientEvent:
        """A text message item; its id is ours, so what the server says of it can be matched."""
        content_type = "input_text" if role == "user" else "output_text"
        event = self._event("conversation.item.create", item={
            "type": "message", "role": role, "content": [{"type": content_type, "text": text}]})
        event["item"]["id"] = event["event_id"].replace(self.prefix, f"{self.prefix}_msg", 1)
        return event

    def add_user_text(self, text: str) -> ClientEvent:
        return self.add_message("user", text)

    def add_function_call(self, call_id: str, name: str, arguments: str) -> ClientEvent:
        """A function call item of the model's, made by the client (a call the user confirmed)."""
        return self._event("conversation.item.create", item={
            "type": "function_call", "call_id": call_id, "name": name, "arguments": arguments})

    def add_tool_output(self, call_id: str, output: str) -> ClientEvent:
        return self._event("conversation.item.create", item={
            "type": "function_call_output", "call_id": call_id, "output": output})


OBJECT_MEMBERS = ("session", "response", "item", "error")
"""Server event members that are objects; one that is not (a server's mistake) reads as missing."""


def normalise(event: Mapping[str, Any]) -> ServerEvent:
    """A server event under its GA name (beta aliases renamed), its object members objects;
    other fields untouched."""
    normal = dict(event)
    type_ = normal.get("type")
    if isinstance(type_, str) and type_ in BETA_ALIASES:
        normal["type"] = BETA_ALIASES[type_]
    normal.update({name: {} for name in OBJECT_MEMBERS if not isinstance(normal.get(name, {}), dict)})
    return normal


def decode_audio(event: Mapping[str, Any]) -> bytes:
    """The bytes of an audio delta (`delta` in GA, `audio` in some servers).

    They are PCM16, but a delta need not end on a whole sample: the next one may hold
    the other half. Raises ValueError, saying what is wrong, when it is not base64 text.
    """
    data = event.get("delta") or event.get("audio") or ""
    if not isinstance(data, str):
        raise ValueError(f"the audio is a {type(data).__name__}, not base64 text")
    try:
        return base64.b64decode(data, validate=True)
    except ValueError as exc:  # binascii.Error, or a character outside ASCII
        raise ValueError(f"the audio is not base64 ({exc})") from None


@dataclass(frozen=True)
class ServerError:
    """An `error` event's content."""

    type: str
    code: str | None
    message: str
    event_id: str | None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ServerError:
        """Whatever the event holds: a field of the wrong type reads as missing."""
        error = event.get("error")
        if not isinstance(error, Mapping):
            error = {}
        code, event_id = error.get("code"), error.get("event_id")
        return cls(type=str(error.get("type") or "error"),
                   code=code if isinstance(code, str) else None,
                   message=str(error.get("message") or "unknown error"),
                   event_id=event_id if isinstance(event_id, str) else None)

    @property
    def fatal(self) -> bool:
        return self.code in FATAL_ERROR_CODES
