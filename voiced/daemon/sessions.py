"""Keeping a Realtime session open while voiced is awake.

A session ends for many reasons and each has its answer:
- restart (a new conversation): connect again at once, nothing replayed;
- rollover (the 60-minute cap, a 1001 close, `session_expired`): connect again at
  once, replay the conversation as text items, and send the microphone audio held
  during the switch, so the assistant still knows what was said and nothing is lost;
- standby: no session until woken;
- reload: connect again at once with the new configuration, replaying the conversation;
- the network or the server failed: retry with exponential backoff and jitter,
  replaying as for a rollover; the delay resets once a session is up;
- a fatal error (a refused key, no quota): stop retrying and stay in `error` until
  `restart` or a configuration reload.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import trio

from voiced.conversation import Message
from voiced.realtime.connection import Outgoing, run_session
from voiced.realtime.endings import SessionEnded, is_rollover, raise_if_expired
from voiced.realtime.protocol import ServerEvent
from voiced.systemd import notify
from voiced.timing import RecentDurations, backoff_delay
from voiced.turns import Turn

log = logging.getLogger("voiced.session")

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
REPLAY_TURNS = 50
"""The most recent turns replayed into a new session: enough context, bounded cost."""
HEALTHY_SESSION_S = 30.0
"""A session that lasted this long, or answered, resets the backoff; any other is a
failure, even one closed with 1001 (a peer that keeps closing at once must not be hammered)."""
QUIET_BEFORE_ROLLOVER_S = 2.0

EndReason = Literal["restart", "rollover", "standby", "reload"]


@dataclass(frozen=True)
class Target:
    """Where and how the next session connects; read anew for each (a reload may change it)."""

    url: str
    key: str
    timeout: float
    rollover_after_s: float


class Conversing(Protocol):
    """What the keeper tells the conversation (voiced.daemon.effects.Effects)."""

    def server_event(self, event: ServerEvent) -> str | None:
        """Fold in one server event; the fatal error the conversation is now in, if any."""

    def session_opened(self, replay: list[Message]) -> None: ...

    def session_lost(self, reason: str, *, fatal: bool = False, keep_audio: bool = False) -> None: ...

    def error_cleared(self) -> None: ...


class Awake(Protocol):
    """Whether voiced is awake (voiced.daemon.listening.AwakeGate)."""

    @property
    def awake(self) -> bool: ...

    async def wait_awake(self) -> None: ...


class Connect(Protocol):
    """voiced.realtime.connection.run_session's signature."""

    def __call__(self, url: str, key: str, *, timeout: float, outbox: trio.MemoryReceiveChannel[Outgoing],
                 on_open: Callable[[], None], on_event: Callable[[ServerEvent], None],
                 mic_to_wire: RecentDurations) -> Awaitable[None]: ...


class SessionKeeper:
    """Runs sessions one after another, deciding how each end is answered."""

    def __init__(self, *, target: Callable[[], Target], conversing: Conversing, awake: Awake,
                 outbox: trio.MemoryReceiveChannel[Outgoing], prepare: Callable[[], Awaitable[None]],
                 finished_turns: Callable[[], Sequence[Turn]],
                 publish: Callable[[str, dict[str, Any]], object], quiet_for: Callable[[float], float],
                 connect: Connect = run_session, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        """`prepare()` sets the configuration the next `session.update` sends."""
        self._target = target
        self._conversing = conversing
        self._awake = awake
        self._outbox = outbox
        self._prepare = prepare
        self._finished_turns = finished_turns
        self._publish = publish
        self._quiet_for = quiet_for
        self._connect = connect
        self._clock = clock
        self._rng = rng
        self.mic_to_wire = RecentDurations()
        self.failures = 0
        self.opened = 0
        """Sessions opened since start."""
        self.server_events = 0
        self.responses = 0
        self.opened_at: float | None = None
        self._responses_at_open = 0
        self._scope: trio.CancelScope | None = None
        self._ending: EndReason | None = None
        self._retry = trio.Event()

    async def run(self) -> None:
        """Keep sessions going until cancelled."""
        while True:
            await self._awake.wait_awake()
            self._ending = None
            await self._prepare()
            if not self._awake.awake:
                continue  # sent to standby while the session was being prepared
            target = self._target()
            try:
                with trio.CancelScope() as self._scope:
                    await self._connect(target.url, target.key, timeout=target.timeout,
                                        outbox=self._outbox, on_open=self._opened,
                                        on_event=self._server_event, mic_to_wire=self.mic_to_wire)
            except SessionEnded as ended:
                await self._after_failure(ended, healthy=self._was_healthy())
                continue
            finally:
                self.opened_at = None
            self._after_planned_end(self._ending or "reload")

    def end(self, reason: EndReason) -> None:
        """Close the current session for `reason`; `run` decides what comes next."""
        self._ending = reason
        if self._scope is not None:
            self._scope.cancel()
        self._retry.set()  # a fatal error or a backoff waits for this

    def due_for_rollover(self, now: float) -> bool:
        """Past `api.rollover_after_s` and at a quiet moment: roll over before the server does."""
        if self.opened_at is None:
            return False
        return (now - self.opened_at >= self._target().rollover_after_s
                and self._quiet_for(now) >= QUIET_BEFORE_ROLLOVER_S)

    def age_s(self, now: float) -> float | None:
        return None if self.opened_at is None else now - self.opened_at

    def _server_event(self, event: ServerEvent) -> None:
        self.server_events += 1
        kind = str(event.get("type", ""))
        if log.isEnabledFor(logging.DEBUG) and not kind.endswith(".delta"):
            log.debug("server: %s", kind)
        if kind == "response.done":
            self.responses += 1
        error = self._conversing.server_event(event)
        if error is not None:
            raise SessionEnded(error, fatal=True)
        raise_if_expired(event)

    def _opened(self) -> None:
        self.opened += 1
        self.opened_at = self._clock()
        self._responses_at_open = self.responses
        self._conversing.session_opened(self._replay())

    def _replay(self) -> list[Message]:
        turns = sorted(self._finished_turns(), key=lambda t: t.started_at or t.ended_at or 0.0)
        return [Message(t.role, t.text) for t in turns[-REPLAY_TURNS:] if t.text]

    def _was_healthy(self) -> bool:
        if self.opened_at is None:
            return False
        answered = self.responses > self._responses_at_open
        return answered or self._clock() - self.opened_at >= HEALTHY_SESSION_S

    def _after_planned_end(self, reason: EndReason) -> None:
        log.info("session closed: %s", reason)
        if reason != "restart":  # the restart already closed the old conversation
            self._conversing.session_lost(reason, keep_audio=reason == "rollover")
        if reason == "rollover":
            self._publish("session.rollover", {"reason": "session age"})

    async def _after_failure(self, ended: SessionEnded, *, healthy: bool) -> None:
        if ended.fatal:
            self._conversing.session_lost(ended.reason, fatal=True)
            log.error("session failed: %s (not retrying until restart or reload)", ended)
            notify(STATUS=f"error: {ended}")
            self._retry = trio.Event()
            await self._retry.wait()
            self._conversing.error_cleared()
            return
        self._conversing.session_lost(ended.reason, keep_audio=True)
        if healthy:
            self.failures = 0
        if is_rollover(ended) and healthy:
            log.info("session rolled over by the server (%s); reconnecting now", ended)
            self._publish("session.rollover", {"reason": ended.reason})
            return
        self.failures += 1
        delay = backoff_delay(self.failures, self._rng, first_s=BACKOFF_BASE_S, cap_s=BACKOFF_CAP_S)
        log.warning("session ended: %s; reconnecting in %.1f s", ended, delay)
        with trio.move_on_after(delay):
            self._retry = trio.Event()
            await self._retry.wait()  # restart or reload try again at once
