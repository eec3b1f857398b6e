"""The recorder plugin: tracks on one timeline, a take per awake stretch, files a WAV header
can describe, and playable files after a crash."""

from __future__ import annotations

import tracemalloc
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import trio
from voiced_plugins import recorder

from tests.plugins.helpers import bundled_alone
from tests.voiced.plugin_host.fakes import hosting, wait_until
from voiced.config import RecordingConfig
from voiced.pcm import SAMPLE_BYTES
from voiced.pcm import WIRE_RATE as RATE

FRAME = 480  # 20 ms


def tone(seconds: float, level: int) -> list[bytes]:
    frames = round(seconds * RATE / FRAME)
    return [np.full(FRAME, level, "<i2").tobytes()] * frames


def frames_at(seconds: float, level: int, start: float) -> list[tuple[bytes, float]]:
    """`seconds` of 20 ms frames at `level`, with the monotonic time of each from `start`."""
    return [(frame, start + n * FRAME / RATE) for n, frame in enumerate(tone(seconds, level))]


def read(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
        return wav.getnframes(), np.frombuffer(wav.readframes(wav.getnframes()), "<i2")


def test_tracks_line_up_on_the_timeline_and_mix(tmp_path: Path) -> None:
    writer = recorder.Recorder(tmp_path / "conv_1", RATE)
    t0 = 1000.0
    mic = tone(1.0, 1000)
    out = tone(1.0, 2000)
    # Mic from 0 to 1 s; the answer from 0.5 s to 1.5 s, interleaved as they would arrive.
    for n in range(75):
        if n < len(mic):
            writer.write("in", mic[n], t0 + n * 0.02)
        if n >= 25:
            writer.write("out", out[n - 25], t0 + 0.5 + (n - 25) * 0.02)
    writer.close()
    mic_frames, _ = read(tmp_path / "conv_1" / "mic.wav")
    out_frames, out_audio = read(tmp_path / "conv_1" / "assistant.wav")
    mixed_frames, mixed = read(tmp_path / "conv_1" / "mixed.wav")
    assert mic_frames == RATE
    assert out_frames == round(1.5 * RATE)
    assert not out_audio[: RATE // 2].any()  # silence before the answer began
    assert mixed_frames == round(1.5 * RATE)
    assert set(mixed[: RATE // 2]) == {1000}
    assert set(mixed[RATE // 2 : RATE]) == {3000}
    assert set(mixed[RATE:]) == {2000}


def test_a_crash_leaves_playable_files_and_start_up_repairs_them(tmp_path: Path) -> None:
    writer = recorder.Recorder(tmp_path / "conv_1", RATE)
    for n, frame in enumerate(tone(2.5, 500)):
        writer.write("in", frame, n * 0.02)
    assert writer.take is not None
    for track in writer.take.tracks.values():
        track._file.flush()  # what the OS has when the process dies
    mic = tmp_path / "conv_1" / "mic.wav"
    frames, audio = read(mic)
    assert frames == 2 * RATE and set(audio) == {500}  # up to the last header rewrite
    with open(mic, "ab") as file:
        file.write(b"\x01")  # half a sample written as it crashed
    assert set(recorder.repair(tmp_path)) >= {mic}
    frames, _ = read(mic)
    assert frames == round(2.5 * RATE)
    assert recorder.repair(tmp_path) == []  # finished files are left alone


def test_the_plugin_records_through_the_host_and_repairs_on_start(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    host, daemon = bundled_alone(tmp_path, "recorder", recording=RecordingConfig(enabled=True, dir=folder))
    unfinished = folder / "conv_old" / "mic.wav"
    unfinished.parent.mkdir(parents=True)
    unfinished.write_bytes(recorder._header(RATE, 0) + bytes(RATE * 2))

    async def main() -> None:
        async with hosting(host, daemon):
            assert read(unfinished)[0] == RATE
            for n, frame in enumerate(tone(0.5, 100)):
                host.record("in", frame, n * 0.02)
            await wait_until(lambda: (folder / "conv_test" / "mic.wav").exists())

    trio.run(main)
    assert read(folder / "conv_test" / "mic.wav")[0] == RATE // 2
    assert read(folder / "conv_test" / "mixed.wav")[0] == RATE // 2


def peak_bytes_while(action: Callable[[], None]) -> int:
    """The most memory Python held at once (above what it held before) while `action` ran."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        action()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_an_hour_of_standby_starts_a_new_take_and_the_gap_is_neither_buffered_nor_written(
        tmp_path: Path) -> None:
    """Guards [S]3: a standby gap was padded in memory in one go (0.8 GiB an hour) and
    written as silence; now the next awake stretch is a take of its own."""
    writer = recorder.Recorder(tmp_path, RATE)
    for frame, ts in frames_at(1.0, 1000, 0.0):
        writer.write("in", frame, ts)

    def after_an_hour() -> None:
        for frame, ts in frames_at(1.0, 2000, 3601.0):
            writer.write("in", frame, ts)
            writer.write("out", frame, ts)
        writer.close()

    assert peak_bytes_while(after_an_hour) < 1_000_000
    assert sum(path.stat().st_size for path in tmp_path.iterdir()) < 10 * RATE * SAMPLE_BYTES
    first, second = read(tmp_path / "mic.wav"), read(tmp_path / "mic-2.wav")
    assert first[0] == second[0] == RATE
    assert set(first[1]) == {1000} and set(second[1]) == {2000}
    assert read(tmp_path / "assistant-2.wav")[0] == RATE
    assert set(read(tmp_path / "mixed-2.wav")[1]) == {4000}


def test_a_short_gap_is_silence_written_a_second_at_a_time(tmp_path: Path) -> None:
    """Guards [S]3: a gap within a stretch used to grow the mix buffer to its length."""
    writer = recorder.Recorder(tmp_path, RATE, gap_s=120)
    for frame, ts in frames_at(1.0, 1000, 0.0):
        writer.write("in", frame, ts)

    def after_a_minute() -> None:
        for frame, ts in frames_at(1.0, 2000, 61.0):
            writer.write("in", frame, ts)
        writer.close()

    assert peak_bytes_while(after_a_minute) < 1_000_000
    assert not (tmp_path / "mic-2.wav").exists()
    for name in ("mic.wav", "mixed.wav"):
        frames, audio = read(tmp_path / name)
        assert frames == 62 * RATE
        assert set(audio[:RATE]) == {1000} and not audio[RATE : 61 * RATE].any()
        assert set(audio[61 * RATE :]) == {2000}


def test_a_full_take_goes_on_in_new_files_before_the_header_overflows(tmp_path: Path) -> None:
    """Guards [S]3: the 32-bit sizes overflowed after 24.8 h, writes failed and the plugin was
    disabled; files now end below the limit (made small here) and the next take goes on."""
    limit = RATE * SAMPLE_BYTES  # a second a file
    writer = recorder.Recorder(tmp_path, RATE, max_data_bytes=limit)
    expected = []
    for n in range(125):  # 2.5 s of 20 ms frames, both ways at once
        frame = np.full(FRAME, n, "<i2").tobytes()
        writer.write("in", frame, n * FRAME / RATE)
        writer.write("out", np.full(FRAME, 1000, "<i2").tobytes(), n * FRAME / RATE)
        expected.append(np.full(FRAME, n, "<i2"))
    writer.close()
    for name, offset in (("mic.wav", 0), ("assistant.wav", None), ("mixed.wav", 1000)):
        takes = [read(tmp_path / recorder.take_name(name, number)) for number in (1, 2, 3)]
        assert [frames for frames, _ in takes] == [RATE, RATE, RATE // 2]
        assert not (tmp_path / recorder.take_name(name, 4)).exists()
        if offset is not None:
            assert np.array_equal(np.concatenate([audio for _, audio in takes]),
                                  np.concatenate(expected) + offset)


def test_the_default_limit_fits_a_wav_header() -> None:
    """Guards [S]3: the RIFF size (data and 36 bytes of header) must fit in 32 bits."""
    assert recorder.MAX_DATA_BYTES > 2**32 - 2**24
    assert recorder.MAX_DATA_BYTES + recorder.HEADER_SIZE - 8 <= 2**32 - 1


def test_a_writer_reopened_for_the_same_conversation_keeps_the_earlier_files(tmp_path: Path) -> None:
    """Guards [S]3: a reload of the plugins mid-conversation truncated the take before it."""
    for level in (1000, 2000):
        writer = recorder.Recorder(tmp_path, RATE)
        for frame, ts in frames_at(0.5, level, 0.0):
            writer.write("in", frame, ts)
        writer.close()
    assert set(read(tmp_path / "mic.wav")[1]) == {1000}
    assert set(read(tmp_path / "mic-2.wav")[1]) == {2000}


def test_a_frame_with_half_a_sample_keeps_the_track_aligned(tmp_path: Path) -> None:
    """Guards [S]3: an odd byte shifted every later sample of the file."""
    writer = recorder.Recorder(tmp_path, RATE)
    writer.write("in", tone(0.02, 1000)[0] + b"\x01", 0.0)
    writer.write("in", tone(0.02, 1000)[0], FRAME / RATE)
    writer.close()
    frames, audio = read(tmp_path / "mic.wav")
    assert frames == 2 * FRAME and set(audio) == {1000}


def test_the_plugin_splits_and_rotates_through_the_host_and_stays_enabled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards [S]3: a long timeline (a day's data, here half a second a file, and an hour of
    standby) no longer fails writes nor gets the plugin disabled."""
    monkeypatch.setattr(recorder, "MAX_DATA_BYTES", RATE // 2 * SAMPLE_BYTES)
    folder = tmp_path / "rec"
    host, daemon = bundled_alone(tmp_path, "recorder", recording=RecordingConfig(enabled=True, dir=folder))

    async def main() -> None:
        async with hosting(host, daemon):
            for start in (0.0, 3601.0):
                for frame, ts in frames_at(1.0, 100, start):
                    host.record("in", frame, ts)
            await wait_until(lambda: (folder / "conv_test" / "mic-4.wav").exists())

    trio.run(main)
    record = host.records["recorder"]
    assert (record.status, record.failures_total) == ("enabled", 0)
    for number in (1, 2, 3, 4):
        assert read(folder / "conv_test" / recorder.take_name("mic.wav", number))[0] == RATE // 2


def test_audio_from_before_a_take_began_is_cut_not_shifted(tmp_path: Path) -> None:
    """Guards [S]3: each awake stretch starts a take; the microphone's first frames can predate
    the assistant's cue that opened it, and appending them shifted the whole mic track."""
    writer = recorder.Recorder(tmp_path, RATE)
    writer.write("out", tone(0.02, 500)[0], 10.0)  # the wake cue opens the take
    writer.write("in", tone(0.02, 1)[0], 10.0 - 0.03)  # wholly before it
    writer.write("in", tone(0.02, 2)[0], 10.0 - 0.01)  # half before it
    writer.write("in", tone(0.02, 3)[0], 10.0 + 0.01)
    writer.close()
    _, mic = read(tmp_path / "mic.wav")
    assert list(mic[:: FRAME // 2]) == [2, 3, 3]
