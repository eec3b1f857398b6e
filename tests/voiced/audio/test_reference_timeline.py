"""The canceller's reference laid out on the clock it sounds by (`SoundingTimeline`)."""

from __future__ import annotations

import numpy as np

from voiced.audio.reference import GAP_S, REANCHOR_S, RESYNC_LATE_S, SoundingTimeline

RATE = 1000  # one sample a millisecond: positions read as times


def pcm(values: range | list[int]) -> bytes:
    return np.asarray(list(values), dtype=np.int16).tobytes()


def samples(data: bytes) -> list[int]:
    return np.frombuffer(data, dtype=np.int16).tolist()


def test_buffers_of_one_stream_stay_contiguous_whatever_their_jittery_stamps() -> None:
    """Guards issue 10, item 3: the reference handed to AEC3 must keep one steady delay behind
    the echo; stamps a little late, or early by up to `REANCHOR_S`, must not move it."""
    timeline = SoundingTimeline(RATE, lead_s=0.0)
    jitter = [0.0, GAP_S - 0.002, -0.02, -0.1, 0.005]
    for index, error in enumerate(jitter):
        stamp = 10.0 + index * 0.01 + error
        assert timeline.add(pcm(range(index * 10, index * 10 + 10)), stamp) is (index == 0)
    assert samples(timeline.take(10.05, 50)) == list(range(50))


def test_a_buffer_stamped_after_a_gap_follows_the_silence_the_device_played() -> None:
    """Guards issue 10 (echo): on a loaded machine the output callback runs late and the
    device plays silence meanwhile (15-120 ms in the room bench). Laid end to end, each later
    buffer was placed that much earlier than it sounded, gap after gap: the echo ended up
    190 ms behind its reference, where neither the canceller nor the fit looks for it."""
    timeline = SoundingTimeline(RATE, lead_s=0.0)
    assert timeline.add(pcm([1] * 10), 10.0)
    assert timeline.add(pcm([2] * 10), 10.05), "a gap of 40 ms starts a new stretch"
    assert samples(timeline.take(10.06, 60)) == [1] * 10 + [0] * 40 + [2] * 10


def test_peek_shows_what_take_hands_over_next_without_taking_it() -> None:
    timeline = SoundingTimeline(RATE, lead_s=0.0)
    timeline.add(pcm(range(1, 41)), 10.0)
    assert samples(timeline.peek(5)) == [0] * 5, "nothing is in step before the first take"
    timeline.take(10.01, 10)
    assert samples(timeline.peek(5)) == list(range(11, 16))
    assert samples(timeline.peek(40)) == list(range(11, 41)) + [0] * 10, "silence where none arrived"
    assert samples(timeline.take(10.02, 10)) == list(range(11, 21))


def test_a_restarted_stream_starts_a_new_stretch_with_silence_in_between() -> None:
    timeline = SoundingTimeline(RATE, lead_s=0.0)
    timeline.add(pcm([1] * 10), 10.0)
    assert timeline.add(pcm([2] * 10), 10.01 + REANCHOR_S + 0.05)
    out = samples(timeline.take(10.01 + REANCHOR_S + 0.06, round((REANCHOR_S + 0.07) * RATE)))
    assert out[:10] == [1] * 10 and out[-10:] == [2] * 10
    assert set(out[10:-10]) == {0}


def test_the_reference_runs_ahead_of_the_microphone_by_the_lead_and_stays_in_step() -> None:
    timeline = SoundingTimeline(RATE, lead_s=0.005)
    timeline.add(pcm(range(1, 101)), 20.0)
    first = samples(timeline.take(20.01, 20))  # heard up to 20.01: reference up to 20.015
    second = samples(timeline.take(20.03, 20))
    assert first[-15:] == list(range(1, 16))
    assert second == list(range(16, 36)), "each frame gets the reference that follows the last"


def test_every_frame_gets_exactly_its_length_of_reference_through_a_stop() -> None:
    """Guards issue 10 (echo): the canceller is handed as much reference as microphone audio,
    frame by frame. Holding the reference back for 200 ms after the playback stopped, then
    handing it over in one burst, made AEC3 lose its echo path at the start of every answer
    (the echo passed for 0.1-0.4 s: a self-interruption per answer in a simulated room)."""
    timeline = SoundingTimeline(RATE, lead_s=0.0)
    timeline.add(pcm(range(1, 101)), 1.0)
    handed = [samples(timeline.take(0.9 + 0.02 * index, 20)) for index in range(1, 31)]
    assert {len(frame) for frame in handed} == {20}
    flat = [value for frame in handed for value in frame]
    assert flat == [0] * 100 + list(range(1, 101)) + [0] * 400, "the reference must keep one delay"


def test_jittery_microphone_stamps_do_not_move_the_reference() -> None:
    """The microphone's callbacks come in bursts too: stamps off by less than the resync
    margin leave the reference contiguous (every jump is an echo path change to AEC3)."""
    timeline = SoundingTimeline(RATE, lead_s=0.0)
    timeline.add(pcm(range(1, 201)), 10.0)
    jitter = [0.0, 0.02, 0.005 - RESYNC_LATE_S, 0.1, 0.2, 0.0]  # heard later: the reference is early
    handed = [samples(timeline.take(10.02 + 0.02 * index + error, 20)) for index, error in enumerate(jitter)]
    assert [value for frame in handed for value in frame] == list(range(1, 121))


def test_a_reference_running_late_is_set_back_in_step() -> None:
    """A reference later than the microphone by more than the margin could never cancel
    the echo (it would come before its reference): it is set back in step at once."""
    timeline = SoundingTimeline(RATE, lead_s=0.0)
    timeline.add(pcm(range(1, 501)), 10.0)
    assert samples(timeline.take(10.02, 20)) == list(range(1, 21))
    assert samples(timeline.take(10.3, 20)) == list(range(281, 301))


def test_an_hour_of_quiet_is_never_padded_in_memory() -> None:
    """Guards a review finding: `take` trims only while the canceller runs, so the first
    chunk after a long quiet spell padded the whole gap with silence (an hour: 173 MB at
    24 kHz, a night: gigabytes, in the trio thread)."""
    timeline = SoundingTimeline(24_000, lead_s=0.0)
    timeline.add(bytes(480), 10.0)
    timeline.add(pcm([7] * 240), 10.0 + 3600)
    assert len(timeline._pcm) == 480, "the gap was padded"
    assert samples(timeline.take(3610.01, 240)) == [7] * 240
