"""What the simulator saw and said, for tests and for plugin developers.

Every client event received and every server event sent becomes a
:class:`LoggedEvent`, kept in memory (bounded) and, when a path is given, appended
to a JSON Lines file flushed line by line so that another process can tail it::

    {"t": 1718000000.123, "dir": "in", "session": "sess_…", "event": {...}, "invalid": null}
    {"t": 1718000000.125, "dir": "out", "session": "sess_…", "event": {...}}

``invalid`` is null for an accepted client event, else the reason it was refused
(a message that is not JSON is logged as the raw text). What the simulator did to
a connection rather than said on it is logged with ``"dir": "sim"``: an injected
fault (``{"type": "sim.fault", "action": ..., ...}``), its own close
(``{"type": "sim.closed", "code": 1001, "reason": "maximum duration"}``), an abrupt
drop (``sim.dropped``), a refused handshake (``{"type": "sim.refused", "status": 503}``,
with an empty session). The last record of every session, whoever closed it, is
``{"type": "sim.ended"}``: after it nothing more is logged for that session.

Every record names its session, so what a client sent in one session (say, the
``conversation.item.create`` events that replay a conversation after a rollover) is
the records with ``"dir": "in"`` and that ``session``; the session id is the one in
that session's first record, ``session.created``. Outgoing audio deltas carry
their decoded byte length in place of the base64 payload, to keep the log small;
incoming ``input_audio_buffer.append`` audio is kept whole, so a test can compare
what was captured with what was played.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import trio

#: "in": from the client; "out": to the client; "sim": what the simulator did to the connection.
Direction = Literal["in", "out", "sim"]
_SHRUNK_DELTAS = frozenset({"response.output_audio.delta", "response.audio.delta"})


@dataclass(frozen=True)
class LoggedEvent:
    """One event as recorded: `seq` counts from 1 over the simulator's lifetime."""

    seq: int
    t: float
    dir: Direction
    session: str
    event: Any
    invalid: str | None = None

    @property
    def type(self) -> str | None:
        return self.event.get("type") if isinstance(self.event, dict) else None


def shrink_audio(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of a server event with an audio delta's payload replaced by its byte length."""
    if event.get("type") in _SHRUNK_DELTAS and isinstance(event.get("delta"), str):
        delta = event["delta"]
        return {**event, "delta": len(delta) * 3 // 4 - delta[-2:].count("=")}
    return event


class EventRecorder:
    """Keeps the last `history` events and appends all of them to `path` if given."""

    def __init__(self, path: Path | None = None, *, history: int = 10_000) -> None:
        self._events: deque[LoggedEvent] = deque(maxlen=history)
        self._seq = 0
        self._file: IO[str] | None = path.open("a", encoding="utf-8") if path else None
        self._changed = trio.Event()

    @property
    def events(self) -> Sequence[LoggedEvent]:
        """The recorded events, oldest first (at most `history` of them)."""
        return tuple(self._events)

    @property
    def last_seq(self) -> int:
        return self._seq

    def record(self, direction: Direction, session: str, event: Any, invalid: str | None = None) -> None:
        """Remember one event; never raises for a log file that fails (it is logged once)."""
        if direction == "out" and isinstance(event, dict):
            event = shrink_audio(event)
        self._seq += 1
        entry = LoggedEvent(self._seq, time.time(), direction, session, event, invalid)
        self._events.append(entry)
        if self._file is not None:
            line: dict[str, Any] = {"t": entry.t, "dir": direction, "session": session, "event": event}
            if direction == "in":
                line["invalid"] = invalid
            self._file.write(json.dumps(line) + "\n")
            self._file.flush()
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, event_type: str, *, direction: Direction = "in", after: int = 0) -> LoggedEvent:
        """Wait until an event of `event_type` going `direction` is recorded with seq > `after`."""
        while True:
            for entry in self._events:
                if entry.seq > after and entry.dir == direction and entry.type == event_type:
                    return entry
            await self._changed.wait()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
