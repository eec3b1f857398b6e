"""Listening with fakes: wake, sleep, the idle timeout, the budget, wake-word detectors
asked for each stretch of standby, and a reload. No sound server: frames are made here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
import trio.testing

from voiced.audio.cues import SLEEP_CUE, WAKE_CUE
from voiced.daemon.listening import AwakeGate, Listening, ListenSettings, OverBudget
from voiced.pcm import pcm_bytes

FRAME = b"\x00" * pcm_bytes(40)


class FakeDetector:
    def __init__(self) -> None:
        self.fed = 0
        self.closed = False
        self.wake_on: int | None = None

    def feed(self, pcm: bytes) -> bool:
        self.fed += 1
        return self.wake_on is not None and self.fed >= self.wake_on

    def close(self) -> None:
        self.closed = True


@dataclass
class Room:
    """Everything listening talks to, recorded."""

    settings: ListenSettings
    standby: list[bool] = field(default_factory=list)
    held: list[list[bytes]] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    cues: list[bytes] = field(default_factory=list)
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent_from_now: int = 0
    spent_usd: float | None = 0.0
    quiet_s: float = 0.0
    waiting: list[Callable[[], None]] = field(default_factory=list)
    detectors: list[FakeDetector] = field(default_factory=list)
    offer_detectors: bool = False
    now: float = 0.0

    def set_standby(self, standby: bool) -> None:
        self.standby.append(standby)

    def hold(self, pre_roll: list[bytes]) -> None:
        self.held.append(pre_roll)

    async def wake_detectors(self) -> list[FakeDetector]:
        await trio.sleep(0.01)
        if not self.offer_detectors:
            return []
        detector = FakeDetector()
        self.detectors.append(detector)
        return [detector]

    def when_quiet(self, callback: Callable[[], None]) -> None:
        self.waiting.append(callback)

    def listening(self, nursery: trio.Nursery) -> Listening:
        def sent_from_now() -> None:
            self.sent_from_now += 1

        return Listening(
            self.settings, gate=AwakeGate(awake=self.settings.mode != "wake"), standby=self,
            end_session=self.ended.append, send_audio_from_now=sent_from_now,
            play_cue=self.cues.append, spent_today=lambda: self.spent_usd,
            publish=lambda kind, data: self.published.append((kind, data)),
            quiet_for=lambda now: self.quiet_s, when_quiet=self.when_quiet,
            wake_detectors=self.wake_detectors, nursery=nursery, clock=lambda: self.now)


def run(test: Callable[[trio.Nursery], Any]) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await test(nursery)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_wake_mode_starts_in_standby_and_keeps_every_frame_local() -> None:
    room = Room(ListenSettings(mode="wake"))

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.start()
        assert not listening.awake and room.standby == [True]
        assert all(listening.hear(FRAME) for _ in range(50)), "a frame left standby"
        assert listening.ear.use_vad, "without a wake-word plugin, a voice wakes it"
        assert room.ended == [] and room.cues == []

    run(test)


def test_with_a_wake_word_set_voice_alone_never_wakes_it_even_before_the_detector_arrives() -> None:
    """Guards [E]: `[listen] wake_word` means only the phrase wakes, also while its model loads."""
    room = Room(ListenSettings(mode="wake", wake_word="okay_nabu"))

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.start()
        assert not listening.ear.use_vad, "voice would wake it before the detector is ready"
        await trio.sleep(0.1)
        assert not listening.ear.use_vad, "no detector offered: still only the phrase wakes"

    run(test)


def test_always_mode_is_awake_and_hears_nothing_itself() -> None:
    room = Room(ListenSettings(mode="always"))

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.start()
        assert listening.awake and room.standby == []
        assert not listening.hear(FRAME)

    run(test)


def test_a_wake_word_wakes_with_the_words_before_it_and_closes_the_detector() -> None:
    room = Room(ListenSettings(mode="wake"), offer_detectors=True)

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.start()
        await trio.sleep(0.1)
        [detector] = room.detectors
        assert listening.ear.detectors == [detector] and not listening.ear.use_vad
        detector.wake_on = 5
        frames = [bytes([i]) * len(FRAME) for i in range(1, 6)]
        for frame in frames:
            assert listening.hear(frame)
        assert listening.awake and listening.last_reason == "wake word"
        assert room.held == [frames], "the words that woke it are sent first"
        assert room.sent_from_now == 0, "a wake with pre-roll keeps what was heard"
        assert room.standby == [True, False] and room.cues == [WAKE_CUE]
        assert detector.closed, "standby ended: its detector is closed"

    run(test)


def test_each_stretch_of_standby_gets_fresh_detectors() -> None:
    room = Room(ListenSettings(mode="always"), offer_detectors=True)

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.start()
        for _ in range(3):
            assert listening.sleep("voicectl sleep")
            await trio.sleep(0.1)
            assert listening.wake("voicectl wake")
        assert len(room.detectors) == 3 and all(d.closed for d in room.detectors)
        assert room.ended == ["standby"] * 3
        assert room.sent_from_now == 3, "nothing heard in standby is sent after a wake by command"

    run(test)


def test_a_detector_that_arrives_after_standby_ended_is_closed_unused() -> None:
    room = Room(ListenSettings(mode="always"), offer_detectors=True)

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.start()
        listening.sleep("voicectl sleep")
        listening.wake("voicectl wake")  # before the detectors came
        await trio.sleep(0.1)
        [late] = room.detectors
        assert late.closed and listening.ear.detectors == []

    run(test)


def test_the_idle_timeout_sends_wake_mode_to_standby_only_when_quiet() -> None:
    room = Room(ListenSettings(mode="wake", idle_timeout_s=30))

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.start()
        listening.wake("voicectl wake")
        room.now, room.quiet_s = 31, 10
        listening.check(room.now)
        assert listening.awake, "someone spoke 10 s ago"
        room.quiet_s = 31
        listening.check(room.now)
        assert not listening.awake and listening.last_reason == "idle" and room.ended == ["standby"]
        assert room.cues == [WAKE_CUE, SLEEP_CUE]

    run(test)


def test_the_idle_timeout_does_not_apply_to_always_mode() -> None:
    room = Room(ListenSettings(mode="always", idle_timeout_s=30), quiet_s=3600, now=3600)

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.start()
        listening.check(room.now)
        assert listening.awake

    run(test)


def test_the_budget_finishes_the_answer_then_stays_in_standby_until_a_new_day() -> None:
    room = Room(ListenSettings(mode="always", daily_usd=1.0))

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.start()
        listening.spent(0.5)
        assert room.published == [] and room.waiting == []
        room.spent_usd = 1.2
        listening.spent(1.2)
        [(kind, data)] = room.published
        assert kind == "error" and data["code"] == "budget_exceeded" and "$1.20" in data["message"]
        assert listening.awake, "the answer under way is finished first"
        room.waiting.pop()()
        assert not listening.awake and listening.last_reason == "budget"
        with pytest.raises(OverBudget):
            listening.wake("voicectl wake")
        assert listening.hear(FRAME), "standby still keeps the frames"
        room.spent_usd = 0.0  # a new day
        assert listening.wake("voicectl wake") and not listening.over_budget

    run(test)


def test_a_voice_does_not_wake_a_spent_budget() -> None:
    room = Room(ListenSettings(mode="wake", daily_usd=1.0), offer_detectors=True, spent_usd=2.0)

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.start()
        listening.spent(2.0)
        await trio.sleep(0.1)
        room.detectors[0].wake_on = 1
        assert listening.hear(FRAME) and not listening.awake

    run(test)


def test_cues_follow_the_setting() -> None:
    room = Room(ListenSettings(mode="always", cues=False))

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.start()
        listening.sleep("voicectl sleep")
        listening.wake("voicectl wake")
        assert room.cues == []
        listening.reconfigure(ListenSettings(mode="always", cues=True))
        listening.sleep("voicectl sleep")
        assert room.cues == [SLEEP_CUE]

    run(test)


def test_a_reload_out_of_wake_mode_wakes_and_into_it_arms_the_idle_timeout() -> None:
    room = Room(ListenSettings(mode="wake", idle_timeout_s=30))

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.start()
        listening.reconfigure(ListenSettings(mode="always"))
        assert listening.awake and listening.last_reason == "mode is now always"
        assert not listening.ear.use_vad
        listening.reconfigure(ListenSettings(mode="wake", idle_timeout_s=5))
        assert listening.awake, "a reload alone does not send it to standby"
        room.now = room.quiet_s = 6
        listening.check(room.now)
        assert not listening.awake and listening.ear.use_vad

    run(test)


def test_a_lower_budget_on_reload_applies_to_what_was_spent_today() -> None:
    room = Room(ListenSettings(mode="always"), spent_usd=3.0)

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.start()
        listening.reconfigure(ListenSettings(mode="always", daily_usd=2.0))
        assert listening.over_budget and room.published[0][1]["code"] == "budget_exceeded"

    run(test)


def test_reloaded_plugins_bring_new_detectors_into_standby() -> None:
    room = Room(ListenSettings(mode="wake"), offer_detectors=True)

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.plugins_changed()  # the first load comes before start: nothing to replace
        listening.start()
        await trio.sleep(0.1)
        listening.plugins_changed()
        await trio.sleep(0.1)
        first, second = room.detectors
        assert first.closed and not second.closed and listening.ear.detectors == [second]
        listening.close()
        assert second.closed

    run(test)


def test_home_assistant_cannot_switch_to_or_from_push_to_talk() -> None:
    """Guards a review finding: with push-to-talk configured, the session has no turn detection;
    Home Assistant's select switching to "always" left it so, and no turn ever ended. The select
    switches between always and wake only; push-to-talk changes with the configuration."""
    room = Room(ListenSettings(mode="push_to_talk"))

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.start()
        listening.set_mode("always")
        assert listening.mode == "push_to_talk"
        always = Room(ListenSettings(mode="always")).listening(nursery)
        always.start()
        always.set_mode("push_to_talk")
        assert always.mode == "always"
        always.set_mode("wake")
        assert always.mode == "wake"

    run(test)
