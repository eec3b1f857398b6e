"""Checking client events the way the service does, before the session acts on them.

Two levels. The built-in check always runs and needs nothing beyond the standard
library: a JSON object, one of the 11 GA client event types, the fields each one
requires with the right JSON types, decodable audio, a GA-shaped session (the beta
flat keys such as ``modalities`` are refused by name). Strict mode adds the
``openai`` package's own pydantic types as the schema; since those models accept
unknown keys, strict mode also refuses any key the schema does not name, as the
service does (``unknown_parameter``).
"""

from __future__ import annotations

import json
import typing
from typing import Any

from voiced.realtime.events import CLIENT_EVENT_TYPES
from voiced.simulator.audio import decode_base64_pcm
from voiced.simulator.errors import ClientError
from voiced.simulator.session_config import GA_SESSION_KEYS

#: Per event type: required field -> JSON type it must have.
_REQUIRED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "session.update": {"session": dict},
    "input_audio_buffer.append": {"audio": str},
    "conversation.item.create": {"item": dict},
    "conversation.item.retrieve": {"item_id": str},
    "conversation.item.truncate": {"item_id": str, "content_index": int, "audio_end_ms": int},
    "conversation.item.delete": {"item_id": str},
}
_OPTIONAL: dict[str, dict[str, type | tuple[type, ...]]] = {
    "conversation.item.create": {"previous_item_id": (str, type(None))},
    "response.create": {"response": (dict, type(None))},
    "response.cancel": {"response_id": (str, type(None))},
}
_JSON_TYPE_NAMES = {dict: "an object", str: "a string", int: "an integer", type(None): "null"}


def parse_client_event(raw: str | bytes) -> dict[str, Any]:
    """Decode one WebSocket message into a JSON object, or raise ClientError."""
    try:
        event = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ClientError("invalid_json", f"The message is not valid JSON: {exc}") from None
    if not isinstance(event, dict):
        raise ClientError("invalid_json", "A client event must be a JSON object.")
    return event


def check_client_event(event: dict[str, Any]) -> None:
    """The built-in check: raise ClientError for anything the service would refuse."""
    event_type = event.get("type")
    if not isinstance(event_type, str):
        raise ClientError("missing_required_parameter", "Missing required parameter: 'type'.", "type")
    if event_type not in CLIENT_EVENT_TYPES:
        raise ClientError(
            "invalid_value",
            f"Invalid value: '{event_type}'. Supported values are: "
            + ", ".join(f"'{name}'" for name in sorted(CLIENT_EVENT_TYPES))
            + ".",
            "type",
        )
    if event_type == "output_audio_buffer.clear":
        raise ClientError(
            "invalid_value",
            "output_audio_buffer.clear is only supported for WebRTC and SIP connections.",
            "type",
        )
    if "event_id" in event and not isinstance(event["event_id"], str):
        raise ClientError("invalid_type", "Invalid type for 'event_id': expected a string.", "event_id")
    for name, expected in _REQUIRED.get(event_type, {}).items():
        if name not in event:
            raise ClientError("missing_required_parameter", f"Missing required parameter: '{name}'.", name)
        _check_type(name, event[name], expected)
    for name, expected in _OPTIONAL.get(event_type, {}).items():
        if name in event:
            _check_type(name, event[name], expected)
    if event_type == "input_audio_buffer.append":
        try:
            decode_base64_pcm(event["audio"])
        except ValueError as exc:
            raise ClientError("invalid_value", f"Invalid 'audio': {exc}.", "audio") from None
    elif event_type == "session.update":
        _check_session(event["session"])
    elif event_type == "conversation.item.truncate" and event["audio_end_ms"] < 0:
        raise ClientError("invalid_value", "'audio_end_ms' must not be negative.", "audio_end_ms")


def _check_type(name: str, value: Any, expected: type | tuple[type, ...]) -> None:
    kinds = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) or not isinstance(value, kinds):
        wanted = " or ".join(_JSON_TYPE_NAMES[kind] for kind in kinds)
        raise ClientError("invalid_type", f"Invalid type for '{name}': expected {wanted}.", name)


def _check_session(session: dict[str, Any]) -> None:
    if session.get("type") != "realtime":
        raise ClientError(
            "missing_required_parameter" if "type" not in session else "invalid_value",
            "The simulator serves GA realtime sessions: 'session.type' must be 'realtime'.",
            "session.type",
        )
    for key in session:
        if key not in GA_SESSION_KEYS:
            raise ClientError("unknown_parameter", f"Unknown parameter: 'session.{key}'.", f"session.{key}")


def _param_path(loc: tuple[int | str, ...]) -> str:
    """``session.audio.input`` from a pydantic location, leaving out union member names."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part[:1].isupper():
            path += f".{part}" if path else part
    return path


class StrictValidator:
    """Validates client events against ``openai.types.realtime.RealtimeClientEvent``.

    Constructing it imports ``openai``; without it, RuntimeError says what to install.
    """

    def __init__(self) -> None:
        try:
            import pydantic
            from openai.types.realtime import RealtimeClientEvent
        except ImportError:
            raise RuntimeError(
                "strict validation uses the openai package's types: pip install openai"
            ) from None
        # The union's discriminator is openai's own annotation, which pydantic does not
        # read; validating against the one model the `type` names gives its errors alone.
        union = typing.get_args(typing.get_args(RealtimeClientEvent)[0])
        self._adapters = {
            typing.get_args(model.model_fields["type"].annotation)[0]: pydantic.TypeAdapter(model)
            for model in union
        }
        self._validation_error = pydantic.ValidationError
        self._base_model = pydantic.BaseModel

    def check(self, event: dict[str, Any]) -> None:
        """Raise ClientError when `event` is not a GA client event, extra keys included."""
        adapter = self._adapters[event["type"]]
        try:
            model = adapter.validate_python(event)
        except self._validation_error as exc:
            first = exc.errors()[0]
            param = _param_path(first["loc"])
            raise ClientError("invalid_value", f"Invalid '{param}': {first['msg']}.", param) from None
        unknown = self._first_unknown_key(model, "")
        if unknown:
            raise ClientError("unknown_parameter", f"Unknown parameter: '{unknown}'.", unknown)

    def _first_unknown_key(self, value: Any, path: str) -> str | None:
        if isinstance(value, self._base_model):
            for key in value.model_extra or {}:
                return f"{path}{key}"
            for name in type(value).model_fields:
                found = self._first_unknown_key(getattr(value, name), f"{path}{name}.")
                if found:
                    return found
        elif isinstance(value, list):
            for index, entry in enumerate(value):
                found = self._first_unknown_key(entry, f"{path[:-1]}[{index}].")
                if found:
                    return found
        return None
