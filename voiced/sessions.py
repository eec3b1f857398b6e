"""Keeping a Realtime session open while voiced is awake.

A session ends for many reasons and each has its answer:
- restart (a new conversation): connect again at once, nothing replayed;
- rollover (the 60-minute cap, a 1001 close, `session_expired`): connect again at
  once, replay the conversation as text items, and send the microphone audio held
  during the switch, so the assistant still knows what was said and nothing is lost;
- standby: no session until woken;
- the network or the server failed: retry with exponential backoff and jitter,
  replaying as for a rollover; the delay resets once a session is up;
- a fatal error (a refused key, no quota): stop retrying and stay in `error` until
  `restart` or a configuration reload.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING, Literal

import trio

from voiced.conversation import Conversation, Message
from voiced.realtime.connection import SessionEnded, run_session
from voiced.systemd import notify

if TYPE_CHECKING:
    from voiced.daemon import Daemon

log = logging.getLogger("voiced.session")

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
REPLAY_TURNS = 50
"""The most recent turns replayed into a new session: enough context, bounded cost."""
ROLLOVER_CODES = frozenset({1001})
HEALTHY_SESSION_S = 30.0
"""A session that lasted this long, or answered, resets the backoff; any other is a
failure, even one closed with 1001 (a peer that keeps closing at once must not be hammered)."""
QUIET_BEFORE_ROLLOVER_S = 2.0
CHECK_EVERY_S = 1.0

EndReason = Literal["restart", "rollover", "standby", "reload"]


def backoff_delay(failures: int, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff: a random delay up to 1, 2, 4, ... 30 s."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, failures - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


class SessionKeeper:
    """Runs sessions one after another for the daemon, deciding how each end is answered."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.failures = 0
        self.opened_at: float | None = None
        self._responses_at_open = 0
        self._scope: trio.CancelScope | None = None
        self._ending: EndReason | None = None
        self._retry = trio.Event()

    async def run(self) -> None:
        daemon = self.daemon
        while True:
            await daemon.listening.awake_event().wait()
            self._ending = None
            await daemon.prepare_session()
            if not daemon.listening.awake:
                continue  # sent to standby while the session was being prepared
            assert daemon.url is not None
            key = daemon.settings.api.key  # read anew: a reload may have brought a new one
            try:
                with trio.CancelScope() as self._scope:
                    await run_session(daemon.url, key.get_secret_value() if key else "simulated",
                                      timeout=daemon.settings.api.timeout, outbox=daemon.outbox,
                                      on_open=self._opened, on_event=daemon.server_event,
                                      mic_to_wire=daemon.mic_to_wire)
            except SessionEnded as ended:
                await self._after_failure(ended, healthy=self._was_healthy())
                continue
            finally:
                self.opened_at = None
            self._after_planned_end(self._ending or "reload")

    def _was_healthy(self) -> bool:
        if self.opened_at is None:
            return False
        answered = self.daemon.counters.responses > self._responses_at_open
        return answered or time.monotonic() - self.opened_at >= HEALTHY_SESSION_S

    def end(self, reason: EndReason) -> None:
        """Close the current session for `reason`; `run` decides what comes next."""
        self._ending = reason
        if self._scope is not None:
            self._scope.cancel()
        self._retry.set()  # a fatal error waits for this

    def _opened(self) -> None:
        self.daemon.counters.sessions += 1
        self.opened_at = time.monotonic()
        self._responses_at_open = self.daemon.counters.responses
        self.daemon.apply(self.daemon.conversation.connection_opened(replay=self._replay()))

    def _replay(self) -> list[Message]:
        turns = sorted(self.daemon.turns.finished, key=lambda t: t.started_at or t.ended_at or 0.0)
        return [Message(t.role, t.text) for t in turns[-REPLAY_TURNS:] if t.text]

    def _lost(self, reason: str, *, fatal: bool = False, hold: bool = True) -> None:
        conversation: Conversation = self.daemon.conversation
        self.daemon.apply(conversation.connection_lost(reason, fatal=fatal))
        self.daemon.drop_outbox()
        if hold:
            conversation.hold()
        else:
            conversation.release()

    def _after_planned_end(self, reason: EndReason) -> None:
        log.info("session closed: %s", reason)
        if reason != "restart":  # the daemon already closed the old conversation
            self._lost(reason, hold=reason == "rollover")
        if reason == "rollover":
            self.daemon.bus.publish("session.rollover", {"reason": "session age"})

    async def _after_failure(self, ended: SessionEnded, *, healthy: bool) -> None:
        if ended.fatal:
            self._lost(ended.reason, fatal=True, hold=False)
            log.error("session failed: %s (not retrying until restart or reload)", ended)
            notify(STATUS=f"error: {ended}")
            self._retry = trio.Event()
            await self._retry.wait()
            self.daemon.apply(self.daemon.conversation.clear_error())
            return
        self._lost(ended.reason)
        if healthy:
            self.failures = 0
        if ended.code in ROLLOVER_CODES and healthy:
            log.info("session rolled over by the server (%s); reconnecting now", ended)
            self.daemon.bus.publish("session.rollover", {"reason": ended.reason})
            return
        self.failures += 1
        delay = backoff_delay(self.failures)
        log.warning("session ended: %s; reconnecting in %.1f s", ended, delay)
        with trio.move_on_after(delay):
            self._retry = trio.Event()
            await self._retry.wait()  # restart or reload try again at once

    def due_for_rollover(self, now: float) -> bool:
        """Past `api.rollover_after_s` and at a quiet moment: roll over before the server does."""
        if self.opened_at is None:
            return False
        return (now - self.opened_at >= self.daemon.settings.api.rollover_after_s
                and self.daemon.quiet_for(now) >= QUIET_BEFORE_ROLLOVER_S)
