"""Capture: periods reach trio whole and in order, quiet ones in batches, loud ones at once.

The callback is driven as PortAudio would drive it, on a fake clock that advances one
20 ms period per call, so the hangover and the batch length are exact.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyaudio
import pytest
import trio
import trio.testing

from tests.support.signals import tone
from voiced.audio.capture import LOUD_HANGOVER_S, QUIET_BATCH_MS, STANDBY_QUIET_BATCH_MS, Capture, MicFrame
from voiced.pcm import WIRE_RATE

PERIOD_S = 0.02
PERIOD = int(WIRE_RATE * PERIOD_S)
VOICE_FLOOR_DBFS = -40.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def capture_on(clock: Clock, rate: int = WIRE_RATE) -> Capture:
    return Capture(rate, trio.lowlevel.current_trio_token(), voice_floor_dbfs=VOICE_FLOOR_DBFS,
                   clock=clock.monotonic)


def quiet(index: int) -> bytes:
    """A period of faint hiss (about -70 dBFS), different every time."""
    noise = np.random.default_rng(index).normal(0, 10, PERIOD)
    return noise.astype(np.int16).tobytes()


def loud() -> bytes:
    return tone(PERIOD_S, amplitude=0.1).tobytes()  # about -23 dBFS: a voice


def run(periods: Iterable[bytes], clock: Clock, *, prompt: bool, echo: object | None = None,
        batch_ms: int = QUIET_BATCH_MS) -> tuple[Capture, list[MicFrame], list[bytes]]:
    """Feed `periods` through a Capture's callback; return it, what trio got, and what went in."""
    fed: list[bytes] = []

    async def main() -> tuple[Capture, list[MicFrame]]:
        capture = capture_on(clock)
        capture.prompt = prompt
        capture.quiet_batch_ms = batch_ms
        capture.echo = echo  # type: ignore[assignment]
        frames: list[MicFrame] = []

        async def consume() -> None:
            async for frame in capture.frames:
                frames.append(frame)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume)
            for data in periods:
                clock.now += PERIOD_S
                fed.append(data)
                assert capture.callback(data, PERIOD, {}, 0) == (None, pyaudio.paContinue)
                await trio.testing.wait_all_tasks_blocked()
            capture.close()
        assert capture.dropped == 0
        return capture, frames

    capture, frames = trio.run(main)
    return capture, frames, fed


def test_prompt_delivers_every_period_alone(clock: Clock) -> None:
    capture, frames, fed = run((quiet(i) for i in range(10)), clock, prompt=True)
    assert [frame.pcm for frame in frames] == fed
    assert capture.batches == 10
    assert frames[-1].captured_at == clock.now
    assert frames[-1].started_at == pytest.approx(clock.now - PERIOD_S)


def test_quiet_periods_travel_in_batches_and_nothing_is_lost(clock: Clock) -> None:
    capture, frames, fed = run((quiet(i) for i in range(50)), clock, prompt=False)
    per_batch = QUIET_BATCH_MS // 20
    assert [len(frame.pcm) for frame in frames] == [per_batch * PERIOD * 2] * (50 // per_batch)
    assert b"".join(frame.pcm for frame in frames) == b"".join(fed)
    assert capture.batches == 50 // per_batch
    assert frames[-1].captured_at == clock.now  # the time of its last period


def test_in_standby_quiet_audio_waits_longer_and_a_voice_still_goes_at_once(clock: Clock) -> None:
    """Guards issue 10 item 5: in standby trio wakes for quiet audio once in
    `STANDBY_QUIET_BATCH_MS`, and what may be a voice reaches the ear at once."""
    periods = [quiet(i) for i in range(60)] + [loud()]
    _, frames, fed = run(periods, clock, prompt=False, batch_ms=STANDBY_QUIET_BATCH_MS)
    per_batch = STANDBY_QUIET_BATCH_MS // 20
    assert [len(frame.pcm) // (PERIOD * 2) for frame in frames] == [per_batch] * (60 // per_batch) + [1]
    assert b"".join(frame.pcm for frame in frames) == b"".join(fed)


def test_a_loud_period_goes_at_once_with_what_waited(clock: Clock) -> None:
    periods = [quiet(0), quiet(1), loud(), quiet(2), quiet(3)]
    _, frames, fed = run(periods, clock, prompt=False)
    assert [frame.pcm for frame in frames] == [b"".join(fed[:3]), fed[3], fed[4]]


def test_after_a_loud_period_every_period_goes_alone_for_the_hangover(clock: Clock) -> None:
    hangover = round(LOUD_HANGOVER_S / PERIOD_S)
    batch = QUIET_BATCH_MS // 20
    periods = [loud()] + [quiet(i) for i in range(hangover - 1 + 2 * batch)]
    _, frames, fed = run(periods, clock, prompt=False)
    assert [frame.pcm for frame in frames[:hangover]] == fed[:hangover]
    assert len(frames[-1].pcm) == batch * PERIOD * 2  # then quiet again (give or take the edge period)
    assert b"".join(fed).startswith(b"".join(frame.pcm for frame in frames))


def hum(amplitude: float = 0.008) -> bytes:
    return tone(PERIOD_S, freq=100, amplitude=amplitude).tobytes()  # about -45 dBFS


def test_a_steady_hum_is_learned_and_a_voice_over_it_still_goes_at_once(clock: Clock) -> None:
    periods = [hum() for _ in range(round(12 / PERIOD_S))] + [loud(), hum()]
    capture, frames, fed = run(periods, clock, prompt=False)
    sizes = [len(frame.pcm) // (PERIOD * 2) for frame in frames]
    assert sizes[:25] == [1] * 25, "a new noise goes at once until it is known"
    assert sizes[-3] == QUIET_BATCH_MS // 20, "a known hum waits"
    assert frames[-2].pcm.endswith(fed[-2]), "a voice over it does not"
    assert frames[-1].pcm == fed[-1]
    assert -47 < capture.noise_dbfs < -43


class RecordingEcho:
    def __init__(self) -> None:
        self.calls: list[tuple[int, float]] = []
        self.aec_active = False
        self.held_s = 0.0

    def process(self, pcm: bytes, captured_at: float) -> bytes:
        self.calls.append((len(pcm), captured_at))
        return pcm


class HoldingEcho(RecordingEcho):
    """Holds every other period back and hands it over with the next (as aec does while the
    reference of a period has not arrived)."""

    def __init__(self) -> None:
        super().__init__()
        self._held = b""

    def process(self, pcm: bytes, captured_at: float) -> bytes:
        super().process(pcm, captured_at)
        if not self._held:
            self._held, self.held_s = pcm, len(pcm) / 2 / WIRE_RATE
            return b""
        out, self._held, self.held_s = self._held + pcm, b"", 0.0
        return out


def test_echo_control_sees_each_period_with_its_own_time(clock: Clock) -> None:
    echo = RecordingEcho()
    start = clock.now
    run((quiet(i) for i in range(20)), clock, prompt=False, echo=echo)
    assert echo.calls == [(PERIOD * 2, pytest.approx(start + (i + 1) * PERIOD_S)) for i in range(20)]


def test_frames_the_echo_control_held_back_keep_the_time_they_were_heard(clock: Clock) -> None:
    """Guards a review finding: audio the echo control handed over late was stamped with the
    later period's times, so standby audio from before a wake could pass `MicFrame.since`."""
    _, frames, _ = run((quiet(i) for i in range(6)), clock, prompt=True, echo=HoldingEcho())
    assert [len(frame.pcm) for frame in frames] == [PERIOD * 4] * 3
    start = clock.now - 6 * PERIOD_S
    for index, frame in enumerate(frames):
        assert frame.started_at == pytest.approx(start + 2 * index * PERIOD_S)
        assert frame.captured_at == pytest.approx(start + 2 * (index + 1) * PERIOD_S)


def test_retune_forgets_quiet_periods_of_the_old_stream(clock: Clock) -> None:
    async def main() -> list[MicFrame]:
        capture = capture_on(clock, 48_000)
        capture.prompt = False
        capture.callback(bytes(PERIOD * 4), PERIOD * 2, {}, 0)  # 20 ms at 48 kHz, waiting
        capture.retune(WIRE_RATE)
        capture.prompt = True
        capture.callback(quiet(1), PERIOD, {}, 0)
        await trio.testing.wait_all_tasks_blocked()
        capture.close()
        return [frame async for frame in capture.frames]

    assert [frame.pcm for frame in trio.run(main)] == [quiet(1)]


def test_a_batch_on_its_way_keeps_the_rate_of_the_stream_it_came_from(clock: Clock) -> None:
    async def main() -> list[MicFrame]:
        capture = capture_on(clock, 48_000)
        capture.callback(tone(0.04, rate=48_000).tobytes(), 1920, {}, 0)  # queued, not yet delivered
        capture.retune(WIRE_RATE)  # the device came back at 24 kHz meanwhile
        await trio.testing.wait_all_tasks_blocked()
        capture.close()
        return [frame async for frame in capture.frames]

    [frame] = trio.run(main)
    assert len(frame.pcm) < 1920 * 2  # resampled from 48 kHz, not passed through as 24 kHz


def test_while_the_canceller_runs_every_period_goes_at_once(clock: Clock) -> None:
    echo = RecordingEcho()
    echo.aec_active = True
    _, frames, fed = run((quiet(i) for i in range(10)), clock, prompt=False, echo=echo)
    assert [frame.pcm for frame in frames] == fed


def test_since_keeps_what_was_captured_from_a_moment_on() -> None:
    pcm = np.arange(4800, dtype=np.int16).tobytes()  # 200 ms
    frame = MicFrame(pcm, started_at=10.0, captured_at=10.2)
    assert frame.since(9.0) is frame
    later = frame.since(10.05)
    assert later.pcm == pcm[1200 * 2:] and later.started_at == pytest.approx(10.05)
    assert later.captured_at == 10.2
    assert frame.since(10.3).pcm == b""


def test_a_delivery_after_close_is_dropped_quietly(clock: Clock) -> None:
    async def main() -> None:
        capture = capture_on(clock)
        capture.callback(quiet(0), PERIOD, {}, 0)  # on its way when the daemon shuts down
        capture.close()
        await trio.testing.wait_all_tasks_blocked()

    trio.run(main)
