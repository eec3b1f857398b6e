"""Turn records and per-turn latency, folded from the bus's events.

A user turn is finished when its transcript is (which may be after the assistant has
already answered: transcription is asynchronous, so it is matched by `item_id`); an
assistant turn when its transcript is, cut to what was heard if it was interrupted.
These records are what transcript sinks receive.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Literal

from voiced.bus import Event
from voiced.timing import RecentDurations

OPEN_TURNS = 100
"""Turns still waiting for their transcript; older ones are given up (transcription off)."""
LATENCY_WINDOW = 50
"""How many recent turns the p50/p95 summary covers."""


@dataclass
class Turn:
    role: Literal["user", "assistant"]
    text: str
    item_id: str
    conversation_id: str
    started_at: float | None = None
    ended_at: float | None = None
    interrupted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TurnRecorder:
    """Builds `Turn`s from events; `observe` returns the turns an event finished."""

    def __init__(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        self._open: dict[str, Turn] = {}
        self.finished: deque[Turn] = deque(maxlen=200)

    def _turn(self, role: Literal["user", "assistant"], item_id: str) -> Turn:
        turn = self._open.get(item_id)
        if turn is None:
            turn = self._open[item_id] = Turn(role, "", item_id, self.conversation_id)
            if len(self._open) > OPEN_TURNS:
                del self._open[next(iter(self._open))]
        return turn

    def observe(self, event: Event) -> list[Turn]:
        item_id = event.data.get("item_id")
        if not isinstance(item_id, str):
            return []
        kind = event.type
        if kind == "user.speech.started":
            self._turn("user", item_id).started_at = event.ts
        elif kind == "user.speech.stopped":
            self._turn("user", item_id).ended_at = event.ts
        elif kind in ("user.transcript.completed", "user.transcript.failed"):
            turn = self._turn("user", item_id)
            turn.text = str(event.data.get("text") or "")
            turn.started_at = turn.started_at or event.ts
            turn.ended_at = turn.ended_at or event.ts
            return [self._finish(item_id)]
        elif kind == "assistant.audio.started":
            self._turn("assistant", item_id).started_at = event.ts
        elif kind == "assistant.transcript.completed":
            turn = self._turn("assistant", item_id)
            turn.text = str(event.data.get("text") or "")
            turn.interrupted = bool(event.data.get("interrupted"))
            turn.started_at = turn.started_at or event.ts
            turn.ended_at = event.ts
            return [self._finish(item_id)]
        return []

    def _finish(self, item_id: str) -> Turn:
        turn = self._open.pop(item_id)
        self.finished.append(turn)
        return turn

    @property
    def current(self) -> list[dict[str, Any]]:
        """Turns under way (for the subscription snapshot)."""
        return [turn.as_dict() for turn in self._open.values()]


@dataclass
class TurnLatency:
    """Milliseconds from the end of the user's speech to each mark of the answer."""

    response_created_ms: float | None = None
    first_audio_ms: float | None = None
    first_played_ms: float | None = None
    done_ms: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {k: (None if v is None else round(v, 1)) for k, v in asdict(self).items()}


class LatencyTracker:
    """speech_stopped -> response.created -> first audio delta -> first sample played -> done.

    Times are monotonic seconds given by the caller; a turn without a `speech_stopped`
    mark (a typed `say`) is measured from the request instead.
    """

    MARKS = ("response_created_ms", "first_audio_ms", "first_played_ms", "done_ms")

    def __init__(self) -> None:
        self._start: float | None = None
        self._current = TurnLatency()
        self.turns = 0
        self._marks = {name: RecentDurations(LATENCY_WINDOW) for name in self.MARKS}

    def _since(self, now: float) -> float | None:
        return None if self._start is None else (now - self._start) * 1000

    def turn_ended(self, now: float) -> None:
        """The user stopped speaking (or asked in text): the clock starts."""
        self._start, self._current = now, TurnLatency()

    def response_created(self, now: float) -> None:
        if self._current.response_created_ms is None:
            self._current.response_created_ms = self._since(now)

    def first_audio(self, now: float) -> None:
        if self._current.first_audio_ms is None:
            self._current.first_audio_ms = self._since(now)

    def first_played(self, now: float) -> None:
        if self._current.first_played_ms is None:
            self._current.first_played_ms = self._since(now)

    def response_done(self, now: float) -> TurnLatency:
        """Close the turn's record; returns it (all None when no turn was timed)."""
        latency = self._current
        if self._start is not None:
            latency.done_ms = self._since(now)
            self.turns += 1
            for name in self.MARKS:
                if (value := getattr(latency, name)) is not None:
                    self._marks[name].add(value)
        self._start, self._current = None, TurnLatency()
        return latency

    def summary(self) -> dict[str, Any]:
        """p50 and p95 of each mark over the recent turns."""
        return {"turns": self.turns, **{name: marks.summary() for name, marks in self._marks.items()}}
