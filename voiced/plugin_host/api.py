"""What plugins see: the daemon's interface, the contexts hooks receive, tools and methods.

The daemon implements `DaemonAPI`; plugins receive a thread-safe view of it (plain
function hooks run in worker threads, and every call they make on it is carried out on
the trio thread).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import pydantic

from voiced.pcm import WIRE_RATE

if TYPE_CHECKING:
    from voiced.bus import Event, Listener
    from voiced.config import Settings


class BusAPI(Protocol):
    """The event bus as plugins see it (`daemon.bus`)."""

    def publish(self, type_: str, data: dict[str, Any] | None = None) -> Event:
        """Publish an event to every listener (and `voicectl events`); never waits."""

    def listen(self, listener: Listener) -> None:
        """`listener(event)` runs on the daemon's thread for every event: it must never block."""

    def unlisten(self, listener: Listener) -> None: ...


class VolumeAPI(Protocol):
    """The output volume (`daemon.volume`)."""

    @property
    def level(self) -> int:
        """0-100."""

    def set(self, level: int) -> None:
        """Apply `level` (0-100, else ValueError) to playback now; it is kept over restarts."""


class ListeningAPI(Protocol):
    """Standby and the listening mode (`daemon.listening`)."""

    @property
    def mode(self) -> str:
        """`always`, `wake` or `push_to_talk`."""

    @property
    def awake(self) -> bool: ...

    def wake(self, reason: str) -> bool:
        """Leave standby (False: awake already); raises `OverBudget` when the day's budget is spent."""

    def sleep(self, reason: str) -> bool:
        """Go to standby (False: there already)."""

    def set_mode(self, mode: Literal["always", "wake"]) -> None:
        """Listen always, or only once woken, until the next reload."""

    def set_arbiter(self, arbiter: Callable[[float, Callable[[bool], None]], None] | None) -> None:
        """Several rooms: `arbiter(loudness_dbfs, decide)` is asked, on the daemon's thread, before
        each wake from standby; it returns at once and calls `decide(won)` later from any thread.
        The microphone's audio is kept meanwhile; a loser stays in standby having sent nothing."""


class DaemonAPI(Protocol):
    """What the daemon offers plugins (`voiced_startup(daemon)`, `ctx.daemon`)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def bus(self) -> BusAPI: ...

    @property
    def conversation_id(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def data_dir(self) -> Path: ...

    @property
    def volume(self) -> VolumeAPI: ...

    @property
    def listening(self) -> ListeningAPI: ...

    def say(self, text: str) -> None:
        """A typed user turn: the assistant answers it as if it had been spoken."""

    def announce(self, text: str) -> None:
        """The assistant says `text` as given; from standby it wakes for it and goes back."""

    def interrupt(self) -> bool:
        """Stop the assistant now; False when it was not answering."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def restart(self) -> None:
        """A new conversation."""

    def standby(self) -> None:
        """Stop listening until woken."""

    def stop(self) -> None:
        """Exit the daemon cleanly."""

    def when_quiet(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the assistant has finished speaking its current answer."""


@dataclass(frozen=True)
class StatusLine:
    """What a plugin says of itself in `voicectl plugins` and `voicectl doctor`: a module
    attribute `status_line` (doctor flags it when not `ok`), e.g. a broker it cannot reach."""

    ok: bool
    text: str


@dataclass(frozen=True)
class VoiceCommandContext:
    daemon: DaemonAPI
    item_id: str
    conversation_id: str


@dataclass(frozen=True)
class RecordingContext:
    conversation_id: str
    dir: Path
    """Where this conversation's recordings go: `[recording] dir` (or `<data_dir>/recordings`)
    / conversation_id; not created yet."""
    rate: int = WIRE_RATE


@dataclass(frozen=True)
class WakeContext:
    daemon: DaemonAPI
    rate: int = WIRE_RATE


@runtime_checkable
class RecordingWriter(Protocol):
    def write(self, direction: str, pcm: bytes, ts: float) -> None:
        """`direction` "in" (microphone) or "out" (played); mono PCM16 at ctx.rate;
        `ts` monotonic seconds of the frame's first sample."""

    def close(self) -> None: ...


@runtime_checkable
class WakeDetector(Protocol):
    """Listens in standby for its wake word; may also have a `close()`, called when it is done."""

    def feed(self, pcm: bytes) -> bool:
        """Mono PCM16 at ctx.rate; True wakes the assistant."""


@dataclass(frozen=True)
class Tool:
    """A function the model may call. `handler(**arguments)` returns a str or JSON-ready data."""

    name: str
    description: str
    handler: Callable[..., Any]
    parameters: dict[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}, "required": []})

    def session_entry(self) -> dict[str, Any]:
        """The entry in the session's `tools` list."""
        return {"type": "function", "name": self.name, "description": self.description,
                "parameters": self.parameters}


@dataclass(frozen=True)
class RpcMethod:
    """A control-socket method. `handler(params)` gets the validated `params` model (or None)
    and returns JSON-ready data; `name` "" offers the bare plugin name (bundled plugins only)."""

    name: str
    handler: Callable[..., Any]
    params: type[pydantic.BaseModel] | None = None
    summary: str = ""
