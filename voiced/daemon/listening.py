"""Listening modes: always, wake (standby until spoken to), push-to-talk; and the budget.

In `wake` mode voiced starts in standby: no session, nothing leaves the machine. It
wakes on `voicectl wake`, on local voice activity (with the words that woke it kept
and sent) or on a wake-word plugin, and goes back to standby after `idle_timeout_s`
without conversation, on `voicectl sleep`, or when the day's budget is spent.
Wake-word detectors are asked of the plugins each time standby begins and closed
when it ends.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import trio

from voiced.audio.cues import SLEEP_CUE, WAKE_CUE
from voiced.config import Settings

from .claims import LOSER_HOLDOFF_S, Arbiter, Claim, loudness_dbfs
from .sessions import EndReason
from .standby_ear import ClosableDetector, StandbyEar

log = logging.getLogger("voiced.listen")

Mode = Literal["always", "wake", "push_to_talk"]


class OverBudget(Exception):
    """Waking was refused: the day's estimated cost reached `[budget] daily_usd`."""


@dataclass(frozen=True)
class ListenSettings:
    """The keys listening follows; a reload hands it new ones."""

    mode: Mode = "always"
    idle_timeout_s: float = 300.0
    cues: bool = True
    vad_threshold: float = 0.5
    daily_usd: float | None = None
    wake_word: str | None = None
    """Set: only a wake-word detector wakes voiced, never voice alone (not even while the
    detector is still loading)."""

    @classmethod
    def of(cls, settings: Settings) -> ListenSettings:
        return cls(settings.listen.mode, settings.listen.idle_timeout_s, settings.listen.cues,
                   settings.audio.vad_threshold, settings.budget.daily_usd, settings.listen.wake_word)


class Standby(Protocol):
    """What listening changes in the conversation (voiced.daemon.effects.Effects)."""

    def set_standby(self, standby: bool) -> None: ...

    def hold(self, pre_roll: list[bytes]) -> None: ...


class AwakeGate:
    """Awake or in standby; the session keeper waits on it."""

    def __init__(self, awake: bool) -> None:
        self._event = trio.Event()
        if awake:
            self._event.set()

    @property
    def awake(self) -> bool:
        return self._event.is_set()

    async def wait_awake(self) -> None:
        await self._event.wait()

    def open(self) -> None:
        self._event.set()

    def close(self) -> None:
        if self._event.is_set():
            self._event = trio.Event()


class Listening:
    """Decides when voiced is awake: it opens and closes the gate the session keeper waits on."""

    def __init__(self, settings: ListenSettings, *, gate: AwakeGate, standby: Standby,
                 end_session: Callable[[EndReason], None],
                 send_audio_from_now: Callable[[], None], play_cue: Callable[[bytes], None],
                 spent_today: Callable[[], float | None], publish: Callable[[str, dict[str, Any]], object],
                 quiet_for: Callable[[float], float], when_quiet: Callable[[Callable[[], None]], None],
                 wake_detectors: Callable[[], Awaitable[Sequence[ClosableDetector]]], nursery: trio.Nursery,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`gate` starts open unless the mode is `wake`; the session keeper waits on it.
        `spent_today()` is today's estimated cost (None: unknown prices); `wake_detectors()`
        asks the plugins for this stretch of standby's detectors, fetched in `nursery`."""
        self.settings = settings
        self._standby = standby
        self._end_session = end_session
        self._send_audio_from_now = send_audio_from_now
        self._play_cue = play_cue
        self._spent_today = spent_today
        self._publish = publish
        self._quiet_for = quiet_for
        self._when_quiet = when_quiet
        self._wake_detectors = wake_detectors
        self._nursery = nursery
        self._clock = clock
        self.gate = gate
        self.ear = StandbyEar(settings.vad_threshold, use_vad=False)
        self.last_change = clock()
        self.last_reason = "start"
        self.over_budget = False
        self._stretch = 0
        """Counts standby stretches, so detectors that arrive late are closed, not used."""
        self._started = False
        self.arbiter: Arbiter | None = None
        """Set by a plugin when several rooms share a broker: it decides which room wakes."""
        self._claim: Claim | None = None
        self._deaf_until = -float("inf")

    @property
    def awake(self) -> bool:
        return self.gate.awake

    @property
    def mode(self) -> Mode:
        return self.settings.mode

    def start(self) -> None:
        """Enter the mode's first state (standby for `wake`); the plugins are loaded by now."""
        self._started = True
        if not self.awake:
            self._standby.set_standby(True)
            self._standby_began()

    def reconfigure(self, settings: ListenSettings) -> None:
        """A reload: every key applies at once. Leaving `wake` mode wakes voiced up."""
        previous, self.settings = self.settings, settings
        self.ear.set_threshold(settings.vad_threshold)
        self._choose_ear()
        if previous.daily_usd != settings.daily_usd:
            self.over_budget = False
            self.spent(self._spent_today())
        if previous.mode == "wake" and settings.mode != "wake" and not self.over_budget:
            self.wake(f"mode is now {settings.mode}")

    def hear(self, pcm: bytes) -> bool:
        """Offer a microphone frame; True when standby kept it (it goes nowhere else)."""
        if self.awake:
            return False
        if self._claim is not None:
            self._claim.frames.append(pcm)  # the winner sends these too
            return True
        reason = self.ear.feed(pcm)
        if reason is not None and not self.over_budget and self._clock() >= self._deaf_until:
            self._wake_or_claim(reason, self.ear.pre_roll())
        return True

    def set_arbiter(self, arbiter: Arbiter | None) -> None:
        """Let `arbiter` decide, for each wake from standby, whether this room answers."""
        self.arbiter = arbiter

    def _wake_or_claim(self, reason: str, pre_roll: list[bytes]) -> None:
        if self.arbiter is None:
            self.wake(reason, pre_roll=pre_roll)
            return
        claim = self._claim = Claim(reason, list(pre_roll), loudness_dbfs(pre_roll))
        try:
            self.arbiter(claim.loudness_dbfs, claim.verdict_from_any_thread())
        except Exception:
            log.exception("the wake arbiter failed; this room answers")
            self._claim = None
            self.wake(reason, pre_roll=pre_roll)
            return
        self._nursery.start_soon(self._settle, claim)

    async def _settle(self, claim: Claim) -> None:
        won = await claim.verdict()
        if self._claim is not claim:
            return
        self._claim = None
        if self.awake:
            return  # woken meanwhile (voicectl wake): the frames are stale
        if won is None:
            log.warning("no verdict on the wake within the claim window: this room answers")
        if won is False:
            log.info("another room answers (this one heard %.1f dBFS)", claim.loudness_dbfs)
            self._deaf_until = self._clock() + LOSER_HOLDOFF_S
            return
        try:
            self.wake(claim.reason, pre_roll=claim.frames)
        except OverBudget as exc:
            log.warning("%s", exc)

    def wake(self, reason: str, pre_roll: list[bytes] | None = None) -> bool:
        """Leave standby; False when already awake. Raises OverBudget when the day is spent."""
        if self.awake:
            return False
        if self.over_budget:
            if self._budget_left():
                self.over_budget = False  # a new day, or a larger budget
            else:
                raise OverBudget(self._budget_message())
        log.info("waking up (%s)", reason)
        self.last_reason, self.last_change = reason, self._clock()
        if not pre_roll:
            self._send_audio_from_now()  # nothing heard in standby leaves the machine
        self._standby.set_standby(False)
        self._standby.hold(pre_roll or [])
        self._standby_ended()
        self._cue(WAKE_CUE)
        self.gate.open()
        return True

    def sleep(self, reason: str) -> bool:
        """Go to standby: the session closes, nothing is sent; False when already asleep."""
        if not self.awake:
            return False
        log.info("going to standby (%s)", reason)
        self.last_reason, self.last_change = reason, self._clock()
        self.gate.close()
        self._end_session("standby")
        self.ear.reset()  # however we woke last time: nothing heard before this standby counts
        self._standby.set_standby(True)
        self._standby_began()
        self._cue(SLEEP_CUE)
        return True

    def sleep_once_quiet(self, reason: str) -> None:
        """Go to standby once the assistant has finished what it is saying."""

        def sleep_now_quiet() -> None:
            self.sleep(reason)

        self._when_quiet(sleep_now_quiet)

    def set_mode(self, mode: Mode) -> None:
        """Another listening mode until the next reload (Home Assistant's select): as a reload would.
        Not to or from push-to-talk: its session has no turn detection, which only a reload sets."""
        if "push_to_talk" in (mode, self.settings.mode) and mode != self.settings.mode:
            log.warning("listening mode stays %s: push-to-talk is switched in the configuration",
                        self.settings.mode)
        elif mode != self.settings.mode:
            log.info("listening mode is now %s", mode)
            self.reconfigure(dataclasses.replace(self.settings, mode=mode))

    def check(self, now: float) -> None:
        """Called every second: the idle timeout of `wake` mode."""
        idle = self.settings.idle_timeout_s
        if (self.settings.mode == "wake" and self.awake and self._quiet_for(now) >= idle
                and now - self.last_change >= idle):
            self.sleep("idle")

    def spent(self, today_usd: float | None) -> None:
        """After each answer: past the day's budget, finish it, say why, go to standby."""
        budget = self.settings.daily_usd
        if budget is None or today_usd is None or today_usd < budget or self.over_budget:
            return
        self.over_budget = True
        message = self._budget_message()
        log.warning("%s", message)
        self._publish("error", {"code": "budget_exceeded", "message": message, "fatal": False})

        def sleep_now_quiet() -> None:
            self.sleep("budget")

        self._when_quiet(sleep_now_quiet)

    def plugins_changed(self) -> None:
        """The plugins were reloaded: in standby, ask the new ones for detectors."""
        if self._started and not self.awake:
            self._standby_ended()
            self._standby_began()

    def close(self) -> None:
        """voiced is stopping: the detectors of this stretch are closed."""
        self._standby_ended()

    def describe(self) -> dict[str, object]:
        return {"mode": self.settings.mode, "awake": self.awake, "last_change_reason": self.last_reason,
                "over_budget": self.over_budget}

    # -- wake-word detectors --------------------------------------------------------------

    def _standby_began(self) -> None:
        self._stretch += 1
        self._choose_ear()
        self._nursery.start_soon(self._fetch_detectors, self._stretch)

    def _standby_ended(self) -> None:
        self._stretch += 1
        detectors, self.ear.detectors = self.ear.detectors, []
        for detector in detectors:
            detector.close()

    async def _fetch_detectors(self, stretch: int) -> None:
        detectors = await self._wake_detectors()
        if stretch != self._stretch:  # standby ended meanwhile
            for detector in detectors:
                detector.close()
            return
        self.ear.detectors = list(detectors)
        self._choose_ear()

    def _choose_ear(self) -> None:
        # With a wake word (configured, or offered by a plugin), only the wake word wakes.
        self.ear.use_vad = (self.settings.mode == "wake" and not self.ear.detectors
                            and self.settings.wake_word is None)

    # -- the budget --------------------------------------------------------------------

    def _budget_left(self) -> bool:
        budget = self.settings.daily_usd
        spent = self._spent_today()
        return budget is None or spent is None or spent < budget

    def _budget_message(self) -> str:
        spent = self._spent_today() or 0.0
        budget = self.settings.daily_usd or 0.0
        return (f"today's estimated cost ${spent:.2f} reached the budget of ${budget:.2f}: "
                "staying in standby until tomorrow (or raise [budget] daily_usd)")

    def _cue(self, pcm: bytes) -> None:
        if self.settings.cues:
            self._play_cue(pcm)
