"""Listening modes: always, wake (standby until spoken to), push-to-talk; and the budget.

In `wake` mode voiced starts in standby: no session, nothing leaves the machine. It
wakes on `voicectl wake`, on local voice activity (with the words that woke it kept
and sent) or on a wake-word plugin, and goes back to standby after `idle_timeout_s`
without conversation, on `voicectl sleep`, or when the day's budget is spent.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import trio

from voiced.audio.cues import SLEEP_CUE, WAKE_CUE
from voiced.wake import WakeDetector, WakeListener

if TYPE_CHECKING:
    from voiced.daemon import Daemon

log = logging.getLogger("voiced.listen")


class OverBudget(Exception):
    """Waking was refused: the day's estimated cost reached `[budget] daily_usd`."""


class Listening:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.mode = daemon.settings.listen.mode
        self._awake = trio.Event()
        self.last_change = time.monotonic()
        self.last_reason = "start"
        self.over_budget = False
        self.ear = WakeListener(daemon.settings.audio.vad_threshold, use_vad=self.mode == "wake")
        if self.mode != "wake":
            self._awake.set()

    @property
    def awake(self) -> bool:
        return self._awake.is_set()

    def awake_event(self) -> trio.Event:
        return self._awake

    def set_detectors(self, detectors: Iterable[WakeDetector]) -> None:
        """Wake-word detectors from plugins (each guarded by the plugin host): with one,
        only the wake word wakes, not any voice."""
        self.ear.detectors = list(detectors)
        self.ear.use_vad = self.mode == "wake" and not self.ear.detectors

    def start(self) -> None:
        """Enter the mode's first state (standby for `wake`)."""
        if not self.awake:
            self.daemon.apply(self.daemon.conversation.set_standby(True))

    def hear(self, pcm: bytes) -> bool:
        """Offer a microphone frame; True when standby kept it (it goes nowhere else)."""
        if self.awake:
            return False
        reason = self.ear.feed(pcm)
        if reason is not None and not self.over_budget:
            self.wake(reason, pre_roll=self.ear.pre_roll())
        return True

    def wake(self, reason: str, pre_roll: list[bytes] | None = None) -> bool:
        """Leave standby; False when already awake. Raises OverBudget when the day is spent."""
        if self.awake:
            return False
        if self.over_budget:
            self.daemon.usage.roll_to(dt.date.today())
            if self._budget_left():
                self.over_budget = False  # a new day, or a larger budget
            else:
                raise OverBudget(self._budget_message())
        log.info("waking up (%s)", reason)
        self.last_reason, self.last_change = reason, time.monotonic()
        conversation = self.daemon.conversation
        if not pre_roll:
            self.daemon.send_audio_from_now()  # nothing heard in standby leaves the machine
        self.daemon.apply(conversation.set_standby(False))
        conversation.hold(pre_roll or [])
        self._cue(WAKE_CUE)
        self._awake.set()
        return True

    def sleep(self, reason: str) -> bool:
        """Go to standby: the session closes, nothing is sent; False when already asleep."""
        if not self.awake:
            return False
        log.info("going to standby (%s)", reason)
        self.last_reason, self.last_change = reason, time.monotonic()
        self._awake = trio.Event()
        self.daemon.sessions.end("standby")
        self.daemon.apply(self.daemon.conversation.set_standby(True))
        self._cue(SLEEP_CUE)
        return True

    def check(self, now: float) -> None:
        """Called every second: the idle timeout of `wake` mode."""
        if (self.mode == "wake" and self.awake
                and self.daemon.quiet_for(now) >= self.daemon.settings.listen.idle_timeout_s
                and now - self.last_change >= self.daemon.settings.listen.idle_timeout_s):
            self.sleep("idle")

    def spent(self, today_usd: float | None) -> None:
        """After each answer: past the day's budget, finish it, say why, go to standby."""
        budget = self.daemon.settings.budget.daily_usd
        if budget is None or today_usd is None or today_usd < budget or self.over_budget:
            return
        self.over_budget = True
        message = self._budget_message()
        log.warning("%s", message)
        self.daemon.bus.publish("error", {"code": "budget_exceeded", "message": message, "fatal": False})
        self.daemon.when_quiet(lambda: self.sleep("budget"))

    def _budget_left(self) -> bool:
        budget = self.daemon.settings.budget.daily_usd
        spent = self.daemon.usage.today_usd
        return budget is None or spent is None or spent < budget

    def _budget_message(self) -> str:
        spent = self.daemon.usage.today_usd or 0.0
        budget = self.daemon.settings.budget.daily_usd
        return (f"today's estimated cost ${spent:.2f} reached the budget of ${budget:.2f}: "
                "staying in standby until tomorrow (or raise [budget] daily_usd)")

    def _cue(self, pcm: bytes) -> None:
        if self.daemon.settings.listen.cues and self.daemon.audio.playback is not None:
            self.daemon.audio.playback.enqueue("cue", pcm)

    def describe(self) -> dict[str, object]:
        return {"mode": self.mode, "awake": self.awake, "last_change_reason": self.last_reason,
                "over_budget": self.over_budget}
