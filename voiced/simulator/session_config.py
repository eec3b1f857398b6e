"""The effective session configuration: GA defaults and `session.update` merging.

The service answers every `session.update` with the whole effective configuration,
so the simulator keeps one nested dict and merges updates into it the way the
service documents: only the named fields change, nested objects merge key by key,
``null`` clears a field (``"turn_detection": null`` means manual turns).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from voiced.pcm import WIRE_RATE
from voiced.simulator.ids import new_id

DEFAULT_MODEL = "gpt-realtime"
DEFAULT_INSTRUCTIONS = "You are a simulated assistant. You repeat what you hear."

SERVER_VAD_DEFAULTS: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}
SEMANTIC_VAD_DEFAULTS: dict[str, Any] = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}

#: Top-level keys of a GA realtime session (``RealtimeSessionCreateRequest``).
GA_SESSION_KEYS = frozenset(
    {
        "type", "audio", "include", "instructions", "max_output_tokens", "model",
        "output_modalities", "parallel_tool_calls", "prompt", "reasoning",
        "tool_choice", "tools", "tracing", "truncation",
    }
)  # fmt: skip


def default_session(model: str | None = None) -> dict[str, Any]:
    """The configuration `session.created` reports for a new session."""
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "expires_at": int(time.time()) + 3600,
        "model": model or DEFAULT_MODEL,
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "include": None,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": WIRE_RATE},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": dict(SERVER_VAD_DEFAULTS),
            },
            "output": {
                "format": {"type": "audio/pcm", "rate": WIRE_RATE},
                "voice": "marin",
                "speed": 1.0,
            },
        },
    }


def merge_session(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Return `current` with `update` merged in; neither argument is modified.

    Objects merge key by key, except when both carry a different ``type`` (switching
    ``server_vad`` to ``semantic_vad``): then the new object replaces the old one,
    so no field of the old kind lingers. Turn detection objects get the service's
    defaults for the fields they leave out.
    """
    merged = _deep_merge(current, update)
    audio_input = merged.get("audio", {}).get("input", {})
    detection = audio_input.get("turn_detection")
    if isinstance(detection, dict):
        defaults = SEMANTIC_VAD_DEFAULTS if detection.get("type") == "semantic_vad" else SERVER_VAD_DEFAULTS
        audio_input["turn_detection"] = {**defaults, **detection}
    return merged


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in update.items():
        old = result.get(key)
        if isinstance(old, dict) and isinstance(value, dict) and not _kind_changes(old, value):
            result[key] = _deep_merge(old, value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _kind_changes(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return "type" in old and "type" in new and old["type"] != new["type"]
