"""What follows from events, each reaction a bus listener of its own.

The conversation publishes through `voiced.daemon.effects`; everything here listens on
the bus like any subscriber does, and only queues or counts: a listener never waits.
The one exception to "listen afterwards" is `Latency.stamp`, which adds the turn's
timings to `assistant.response.done` as it is published.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from voiced.bus import Bus, Event
from voiced.conversation import State
from voiced.systemd import notify
from voiced.timing import RecentDurations
from voiced.turns import LatencyTracker, Turn, TurnRecorder
from voiced.usage import UsageLedger

from .outbox import Counters
from .quiet import QUIET_STATES

log = logging.getLogger("voiced")


class Latency:
    """Per-turn latency (user stopped -> response -> first audio -> heard) and the audio path's."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.turns = LatencyTracker()
        self.delta_to_device = RecentDurations()
        self._clock = clock
        self._first_delta_at: dict[str, float] = {}

    def stamp(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Note when `kind` happened; `assistant.response.done` gets the turn's latency."""
        now = self._clock()
        if kind == "user.speech.stopped":
            self.turns.turn_ended(now)
        elif kind == "assistant.response.started":
            self.turns.response_created(now)
        elif kind == "assistant.audio.started":
            self.turns.first_audio(now)
            self._first_delta_at = {data["item_id"]: now}
        elif kind == "assistant.response.done":
            return {**data, "latency": self.turns.response_done(now).as_dict()}
        return data

    def typed_turn(self) -> None:
        """A typed turn (`say`) ended now."""
        self.turns.turn_ended(self._clock())

    def first_sample_played(self, item_id: str, handed_at: float, delay_s: float) -> None:
        """The output callback handed `item_id`'s first sample to the device at `handed_at`
        (monotonic); it is heard `delay_s` later."""
        self.turns.first_played(handed_at + delay_s)
        if (received_at := self._first_delta_at.pop(item_id, None)) is not None:
            self.delta_to_device.add((handed_at - received_at) * 1000)


def announce_state(deliver_promptly: Callable[[bool], None]) -> Callable[[Event], None]:
    """The state to systemd's STATUS and the log; the microphone hurries while someone speaks."""

    def on_event(event: Event) -> None:
        if event.type == "state.changed":
            state = State(event.data["state"])
            notify(STATUS=state.value)
            log.info("state: %s", state.value)
            deliver_promptly(state not in QUIET_STATES)

    return on_event


def count_and_log(counters: Counters) -> Callable[[Event], None]:
    """Interruptions counted; interruptions and server errors logged."""

    def on_event(event: Event) -> None:
        if event.type == "assistant.interrupted":
            counters.interruptions += 1
            log.info("interrupted after %d ms of %s", event.data["played_ms"], event.data["item_id"])
        elif event.type == "error" and "event_id" in event.data:  # the server's; others are logged at source
            log.warning("server error %s: %s", event.data.get("code"), event.data.get("message"))

    return on_event


class RateLimits:
    """The latest `rate_limits.updated`, for `usage`."""

    def __init__(self) -> None:
        self.latest: list[dict[str, Any]] = []

    def on_event(self, event: Event) -> None:
        if event.type == "rate_limits.updated":
            self.latest = event.data["rate_limits"]


def voice_commands(nursery: trio.Nursery,
                   offer: Callable[[str, str | None], Awaitable[bool]]) -> Callable[[Event], None]:
    """Each completed user transcript offered to the voice-command plugins, in a task of its own."""

    def on_event(event: Event) -> None:
        if event.type == "user.transcript.completed" and event.data.get("text"):
            nursery.start_soon(offer, event.data["text"], event.data.get("item_id"))

    return on_event


def finished_turns(turns: Callable[[], TurnRecorder], deliver: Callable[[Turn], None],
                   forget_played: Callable[[str], None]) -> Callable[[Event], None]:
    """Turns assembled from the events; each finished one goes to the transcript plugins."""

    def on_event(event: Event) -> None:
        for turn in turns().observe(event):
            log.debug("%s turn %s finished (%d chars)", turn.role, turn.item_id, len(turn.text))
            deliver(turn)
            if turn.role == "assistant":
                forget_played(turn.item_id)

    return on_event


def usage_and_budget(usage: UsageLedger, bus: Bus,
                     spent: Callable[[float | None], None]) -> Callable[[Event], None]:
    """Each answer's tokens added up (`usage.updated`), then the day's budget checked."""

    def on_event(event: Event) -> None:
        if event.type == "assistant.response.done" and event.data.get("usage"):
            usage.add(event.data["usage"], dt.date.today())
            bus.publish("usage.updated", usage.summary())
            spent(usage.today_usd)

    return on_event
