"""Capture across a change of input period: two streams spliced into one, nothing lost or doubled.

Standby reads the microphone in long periods and waking goes back to short ones; for a
moment both streams run. The callbacks are driven as PortAudio would drive them, on a
fake clock, with a ramp (each sample its own value) so a lost or doubled sample shows.
"""

from __future__ import annotations

import numpy as np
import pytest
import trio
import trio.testing

from voiced.audio.capture import Capture, MicFrame
from voiced.pcm import WIRE_RATE

START = 1000.0
RAMP = (np.arange(WIRE_RATE * 3) % 30_000).astype(np.int16)
"""Three seconds in which every sample says when it was captured."""


class Clock:
    now = START

    def monotonic(self) -> float:
        return self.now


def periods(stream: int, period_ms: int, since_s: float, until_s: float) -> list[tuple[float, int, bytes]]:
    """(callback time, stream, samples) of a stream that started `since_s` into the ramp."""
    size = WIRE_RATE * period_ms // 1000
    first = round(since_s * WIRE_RATE)
    return [(START + (begin + size) / WIRE_RATE, stream, RAMP[begin:begin + size].tobytes())
            for begin in range(first, round(until_s * WIRE_RATE) - size + 1, size)]


def run_switch(old_ms: int, new_ms: int, switch_s: float, stall_s: float | None = None) -> list[MicFrame]:
    """Stream 0 at `old_ms` periods from the start; stream 1 at `new_ms` from `switch_s`.
    The old one stops delivering at `stall_s` (else once it reached the new one's start)."""
    clock = Clock()

    async def main() -> list[MicFrame]:
        capture = Capture(WIRE_RATE, trio.lowlevel.current_trio_token(), voice_floor_dbfs=-40.0,
                          clock=clock.monotonic)
        capture.prompt = True
        old = periods(0, old_ms, 0.0, stall_s or 2.5)
        new = periods(1, new_ms, switch_s, 2.5)
        switched = False
        for at, stream, data in sorted([*old, *new], key=lambda period: period[0]):
            if stream == 1 and not switched:
                capture.switch_to(1)
                switched = True
            if stall_s is not None and at > START + stall_s and not capture.switched.is_set():
                capture.hand_over()
            clock.now = at
            capture.callback(data, len(data) // 2, {}, 0, stream=stream)
            await trio.testing.wait_all_tasks_blocked()
        assert capture.switched.is_set()
        capture.close()
        return [frame async for frame in capture.frames]

    return trio.run(main)


def samples(frames: list[MicFrame]) -> np.ndarray:
    return np.frombuffer(b"".join(frame.pcm for frame in frames), dtype=np.int16)


def test_waking_splices_short_periods_after_long_ones_without_a_gap() -> None:
    """Guards issue 10 item 5: standby's long periods end where the short ones of waking begin,
    so the words that woke voiced, and those after, arrive whole."""
    frames = samples(run_switch(old_ms=200, new_ms=40, switch_s=0.53))
    assert np.array_equal(frames, RAMP[:len(frames)])
    assert len(frames) >= WIRE_RATE * 2.4


def test_going_to_standby_splices_long_periods_after_short_ones_without_doubling() -> None:
    """Guards issue 10 item 5: the first long period, which overlaps short ones already
    taken, is cut where they ended."""
    frames = samples(run_switch(old_ms=40, new_ms=200, switch_s=0.51))
    assert np.array_equal(frames, RAMP[:len(frames)])
    assert len(frames) >= WIRE_RATE * 2.3


def test_frames_keep_their_capture_times_across_the_splice() -> None:
    frames = run_switch(old_ms=200, new_ms=40, switch_s=0.53)
    for frame in frames:
        first = int(np.frombuffer(frame.pcm[:2], dtype=np.int16)[0])
        assert abs(round((frame.started_at - START) * WIRE_RATE) % 30_000 - first) <= 1
        assert frame.captured_at - frame.started_at == pytest.approx(len(frame.pcm) / 2 / WIRE_RATE)


def test_a_stalled_old_stream_hands_over_and_the_new_one_goes_on() -> None:
    """What the old stream never delivered is lost; the new stream's audio is all there, in order."""
    got = samples(run_switch(old_ms=200, new_ms=40, switch_s=0.53, stall_s=0.4))
    assert np.array_equal(got[:WIRE_RATE * 4 // 10], RAMP[:WIRE_RATE * 4 // 10])
    after = got[WIRE_RATE * 4 // 10:]
    assert np.array_equal(after, RAMP[round(0.53 * WIRE_RATE):][:len(after)])


def test_a_switch_before_the_old_stream_delivered_anything_loses_nothing_of_the_new() -> None:
    clock = Clock()

    async def main() -> list[MicFrame]:
        capture = Capture(WIRE_RATE, trio.lowlevel.current_trio_token(), voice_floor_dbfs=-40.0,
                          clock=clock.monotonic)
        capture.switch_to(1)
        for at, stream, data in periods(1, 40, 0.0, 0.2):
            clock.now = at
            capture.callback(data, len(data) // 2, {}, 0, stream=stream)
        capture.hand_over()  # the old stream never came
        await trio.testing.wait_all_tasks_blocked()
        capture.close()
        return [frame async for frame in capture.frames]

    assert np.array_equal(samples(trio.run(main)), RAMP[:WIRE_RATE // 5])


def test_handing_over_to_a_stream_that_sent_nothing_yet_is_harmless() -> None:
    async def main() -> None:
        capture = Capture(WIRE_RATE, trio.lowlevel.current_trio_token(), voice_floor_dbfs=-40.0)
        capture.prompt = False  # standby: quiet periods wait
        capture.switch_to(1)
        capture.hand_over()
        assert capture.switched.is_set()
        capture.close()

    trio.run(main)


def test_a_new_stream_handed_over_before_it_spoke_does_not_repeat_what_was_taken() -> None:
    """Guards a review finding: when the splice wait ran out before the new stream's first
    period, that period (200 ms in standby) went back over audio the old stream had already
    delivered, and it was sent twice."""
    clock = Clock()

    async def main() -> list[MicFrame]:
        capture = Capture(WIRE_RATE, trio.lowlevel.current_trio_token(), voice_floor_dbfs=-40.0,
                          clock=clock.monotonic)
        capture.prompt = True
        for at, stream, data in periods(0, 40, 0.0, 0.6):
            if at >= START + 0.5 and capture._next is None:
                capture.switch_to(1)  # the new stream starts capturing at 0.5 s, slowly
            clock.now = at
            capture.callback(data, len(data) // 2, {}, 0, stream=stream)
        capture.hand_over()  # it has not called back yet
        for at, stream, data in periods(1, 200, 0.5, 1.5):
            clock.now = at
            capture.callback(data, len(data) // 2, {}, 0, stream=stream)
        await trio.testing.wait_all_tasks_blocked()
        capture.close()
        return [frame async for frame in capture.frames]

    got = samples(trio.run(main))
    assert np.array_equal(got, RAMP[:len(got)]), "audio was repeated or lost across the hand-over"
    assert len(got) >= WIRE_RATE * 1.4
