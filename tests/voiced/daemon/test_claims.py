"""A wake that waits for a verdict (several rooms): frames are kept, a winner sends them all,
a loser stays in standby and deaf for a while, no verdict means this room answers."""

from __future__ import annotations

from collections.abc import Callable

import trio

from voiced.daemon.claims import LOSER_HOLDOFF_S, VERDICT_TIMEOUT_S, loudness_dbfs
from voiced.daemon.listening import ListenSettings

from .test_listening import FRAME, Room, run

Asked = list[tuple[float, Callable[[bool], None]]]


def woken_by_a_detector(room: Room, listening: object, asked: Asked) -> list[bytes]:
    """Frames that make the fake detector fire on the last; returns them."""
    [detector] = room.detectors
    detector.wake_on = detector.fed + 3
    frames = [bytes([i]) * len(FRAME) for i in range(1, 4)]
    for frame in frames:
        assert listening.hear(frame)  # type: ignore[attr-defined]
    return frames


def test_a_won_claim_wakes_with_every_frame_heard_while_it_waited() -> None:
    room = Room(ListenSettings(mode="wake"), offer_detectors=True)
    asked: Asked = []

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.set_arbiter(lambda loudness, decide: asked.append((loudness, decide)))
        listening.start()
        await trio.sleep(0.1)
        frames = woken_by_a_detector(room, listening, asked)
        [(loudness, decide)] = asked
        assert loudness == loudness_dbfs(frames)
        later = [bytes([9]) * len(FRAME)] * 5
        assert all(listening.hear(frame) for frame in later)
        assert not listening.awake and room.held == []
        decide(True)
        await trio.sleep(0.01)
        assert listening.awake and room.held == [frames + later]

    run(test)


def test_a_lost_claim_stays_in_standby_and_does_not_wake_again_at_once() -> None:
    room = Room(ListenSettings(mode="wake"), offer_detectors=True)
    asked: Asked = []

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.set_arbiter(lambda loudness, decide: asked.append((loudness, decide)))
        listening.start()
        await trio.sleep(0.1)
        woken_by_a_detector(room, listening, asked)
        asked[0][1](False)
        await trio.sleep(0.01)
        assert not listening.awake and room.held == [] and room.standby == [True]
        woken_by_a_detector(room, listening, asked)
        assert len(asked) == 1, "the rest of the utterance woke it"
        room.now += LOSER_HOLDOFF_S
        woken_by_a_detector(room, listening, asked)
        assert len(asked) == 2

    run(test)


def test_without_a_verdict_this_room_answers() -> None:
    room = Room(ListenSettings(mode="wake"), offer_detectors=True)
    asked: Asked = []

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.set_arbiter(lambda loudness, decide: asked.append((loudness, decide)))
        listening.start()
        await trio.sleep(0.1)
        woken_by_a_detector(room, listening, asked)
        await trio.sleep(VERDICT_TIMEOUT_S + 0.1)
        assert listening.awake
        asked[0][1](False)  # too late: changes nothing
        await trio.sleep(0.01)
        assert listening.awake

    run(test)


def test_an_arbiter_that_raises_does_not_keep_voiced_asleep() -> None:
    room = Room(ListenSettings(mode="wake"), offer_detectors=True)

    def broken(loudness: float, decide: Callable[[bool], None]) -> None:
        raise RuntimeError("boom")

    async def test(nursery: trio.Nursery) -> None:
        listening = room.listening(nursery)
        listening.set_arbiter(broken)
        listening.start()
        await trio.sleep(0.1)
        woken_by_a_detector(room, listening, [])
        assert listening.awake

    run(test)
