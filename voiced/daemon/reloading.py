"""What a reload (SIGHUP) applies at once, and what waits for a restart.

`RELOAD_TABLE` is the README's table ("What a reload applies"); a test holds the two
together and checks each row against a running daemon.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from voiced.config import Settings

RESTART = "restart"

RELOAD_TABLE: list[tuple[tuple[str, ...], str]] = [
    (("api.key",), "at once: the next connection uses it, and a session stopped by a refused key "
                   "tries again"),
    (("api.base_url", "api.model"), "at once: the session reconnects and the conversation is replayed"),
    (("api.timeout", "api.rollover_after_s"), "at once: from the next connection or check"),
    (("assistant", "assistants", "transcription", "audio.turn_detection", "audio.noise_reduction"),
     "at once: the open session gets a `session.update`"),
    (("audio.vad_threshold",),
     "at once: the server's VAD, standby's ear and the microphone's quiet batching"),
    (("listen.mode", "listen.idle_timeout_s", "listen.cues"), "at once; leaving `wake` mode wakes voiced"),
    (("budget.daily_usd", "prices"), "at once: today's cost is checked against the new budget"),
    (("plugins", "recording"), "at once: the plugins shut down and are loaded again"),
    (("mcp",), "at once: a server whose table changed restarts; the session gets a `session.update`"),
    (("logging.level", "debug_mode"), "at once"),
    (("audio.input_device", "audio.output_device", "audio.sample_rate", "audio.channels",
      "audio.chunk_ms", "audio.echo"), RESTART),
    (("control.socket",), RESTART),
    (("logging.file_path",), RESTART),
]

_RECONNECT = ("api.base_url", "api.model")


def _value(settings: Settings, key: str) -> Any:
    value: Any = settings
    for part in key.split("."):
        value = getattr(value, part)
    return value.model_dump() if hasattr(value, "model_dump") else value


def _changed(old: Settings, new: Settings, keys: tuple[str, ...]) -> Iterator[str]:
    for key in keys:
        if _value(old, key) != _value(new, key):
            yield key


def needs_restart(old: Settings, new: Settings) -> list[str]:
    """The keys that changed but apply only when voiced restarts."""
    return [key for keys, how in RELOAD_TABLE if how == RESTART for key in _changed(old, new, keys)]


def reconnect_needed(old: Settings, new: Settings) -> bool:
    """The server or the model changed: the open session cannot be updated, only replaced."""
    return any(_changed(old, new, _RECONNECT))
