from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import trio
from voiced_plugins import recorder

from tests.plugins.helpers import bundled_alone
from tests.voiced.plugin_host.fakes import hosting, wait_until
from voiced.config import RecordingConfig
from voiced.pcm import WIRE_RATE as RATE

FRAME = 480  # 20 ms


def tone(seconds: float, level: int) -> list[bytes]:
    frames = round(seconds * RATE / FRAME)
    return [np.full(FRAME, level, "<i2").tobytes()] * frames


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
    for track in writer.tracks.values():
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
