"""The canceller's reference laid out on the clock it sounds by (`SoundingTimeline`)."""

from __future__ import annotations

import numpy as np

from voiced.audio.reference import REANCHOR_S, SoundingTimeline

RATE = 1000  # one sample a millisecond: positions read as times


def pcm(values: range | list[int]) -> bytes:
    return np.asarray(list(values), dtype=np.int16).tobytes()


def samples(data: bytes) -> list[int]:
    return np.frombuffer(data, dtype=np.int16).tolist()


def test_buffers_of_one_stream_stay_contiguous_whatever_their_jittery_stamps() -> None:
    """Guards issue 10, item 3: the reference handed to AEC3 must keep one steady delay behind
    the echo; stamps off by tens of ms (the pulse plugin calls back in bursts) must not move it."""
    timeline = SoundingTimeline(RATE, lead_s=0.0)
    jitter = [0.0, 0.03, -0.02, 0.04, 0.01]
    for index, error in enumerate(jitter):
        stamp = 10.0 + index * 0.01 + error
        assert timeline.add(pcm(range(index * 10, index * 10 + 10)), stamp) is (index == 0)
    assert samples(timeline.take(10.0, 10.05)) == list(range(50))


def test_a_restarted_stream_starts_a_new_stretch_with_silence_in_between() -> None:
    timeline = SoundingTimeline(RATE, lead_s=0.0)
    timeline.add(pcm([1] * 10), 10.0)
    assert timeline.add(pcm([2] * 10), 10.01 + REANCHOR_S + 0.05)
    out = samples(timeline.take(10.0, 10.01 + REANCHOR_S + 0.06))
    assert out[:10] == [1] * 10 and out[-10:] == [2] * 10
    assert set(out[10:-10]) == {0}


def test_the_reference_runs_ahead_of_the_microphone_by_the_lead_and_stays_in_step() -> None:
    timeline = SoundingTimeline(RATE, lead_s=0.005)
    timeline.add(pcm(range(1, 101)), 20.0)
    first = samples(timeline.take(19.99, 20.01))  # heard up to 20.01: reference up to 20.015
    second = samples(timeline.take(20.01, 20.03))
    assert first[-15:] == list(range(1, 16))
    assert second == list(range(16, 36)), "each frame gets the reference that follows the last"


def test_nothing_played_is_silence_and_what_is_not_handed_over_yet_waits() -> None:
    timeline = SoundingTimeline(RATE, lead_s=0.0)
    assert set(samples(timeline.take(0.0, 0.02))) == {0}
    timeline.add(pcm([5] * 10), 0.02)
    assert samples(timeline.take(0.02, 0.04)) == [5] * 10, "the rest of the frame comes next time"


def test_an_hour_of_quiet_is_never_padded_in_memory() -> None:
    """Guards a review finding: `take` trims only while the canceller runs, so the first
    chunk after a long quiet spell padded the whole gap with silence (an hour: 173 MB at
    24 kHz, a night: gigabytes, in the trio thread)."""
    timeline = SoundingTimeline(24_000, lead_s=0.0)
    timeline.add(bytes(480), 10.0)
    timeline.add(pcm([7] * 240), 10.0 + 3600)
    assert len(timeline._pcm) == 480, "the gap was padded"
    assert samples(timeline.take(3610.0, 3610.01)) == [7] * 240
