"""What the conversation asks the daemon to do, and the states it can be in."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

from voiced.realtime.protocol import ClientEvent


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
    """Silence the output now, drop what is queued, then call `playback_stopped` with how
    much of each of `item_ids` was played."""

    item_ids: tuple[str, ...]


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


@dataclass(frozen=True)
class Message:
    """A finished turn's text, replayed into a new session so the assistant remembers it."""

    role: Literal["user", "assistant"]
    text: str
