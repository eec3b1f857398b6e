"""Virtual devices on their own: real pacing threads, real WAV files, the PyAudio callback
protocol, and choosing and opening them through `voiced.audio.devices`."""

from __future__ import annotations

import logging
import os
import struct
import subprocess
import sys
import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pyaudio
import pytest

from tests.support.processes import wait_for
from tests.support.signals import load_wav, save_wav
from voiced.audio.devices import Device, DeviceError, choose_device, open_stream
from voiced.audio.virtual import MAX_WAV_DATA, VirtualStream, WavSink

RATE = 16_000
CHUNK_MS = 20
FRAMES = RATE * CHUNK_MS // 1000


class Heard:
    """An input callback that keeps what it is given until it has `wanted` samples."""

    def __init__(self, wanted: int, *, finish: bool = False) -> None:
        self.wanted = wanted
        self.finish = finish
        self.pcm: list[np.ndarray] = []
        self.calls = 0
        self.enough = threading.Event()

    def __call__(self, data: bytes | None, frames: int, times: dict[str, float],
                 status: int) -> tuple[None, int]:
        assert data is not None and len(data) == 2 * frames
        self.calls += 1
        if not self.enough.is_set():
            self.pcm.append(np.frombuffer(data, dtype=np.int16))
            if sum(map(len, self.pcm)) >= self.wanted:
                self.enough.set()
                if self.finish:
                    return None, pyaudio.paComplete
        return None, pyaudio.paContinue

    def samples(self) -> np.ndarray:
        return np.concatenate(self.pcm)


def ramp(seconds: float) -> np.ndarray:
    """Samples that say where they are: sample i is i (mod 2**15)."""
    return (np.arange(round(seconds * RATE)) % 32768).astype(np.int16)


def open_input(wanted: str, callback: Any, *, previous: Device | None = None,
               chunk_ms: int = CHUNK_MS) -> tuple[Device, VirtualStream, int]:
    device = choose_device([], wanted, "input", previous=previous)
    stream, rate = open_stream(None, device, "input", rate=24_000, chunk_ms=chunk_ms, callback=callback)
    assert isinstance(stream, VirtualStream)
    return device, stream, rate


def hear(wanted: str, samples: int, **kwargs: Any) -> tuple[np.ndarray, int]:
    heard = Heard(samples)
    _, stream, rate = open_input(wanted, heard, **kwargs)
    stream.start_stream()
    try:
        assert heard.enough.wait(20), "the virtual microphone did not deliver"
    finally:
        stream.close()
    return heard.samples(), rate


def test_an_input_file_plays_at_its_own_rate_then_silence(tmp_path: Path) -> None:
    save_wav(tmp_path / "q.wav", ramp(0.3), RATE)
    heard, rate = hear(f"file:{tmp_path / 'q.wav'}", round(0.5 * RATE))
    assert rate == RATE  # capture resamples it to the wire's rate, as for a real device
    np.testing.assert_array_equal(heard[:len(ramp(0.3))], ramp(0.3))
    assert not heard[len(ramp(0.3)):].any()


def test_a_looped_input_file_plays_again_from_its_start(tmp_path: Path) -> None:
    save_wav(tmp_path / "q.wav", ramp(0.1), RATE)
    heard, _ = hear(f"file:{tmp_path / 'q.wav'}?loop", round(0.35 * RATE))
    np.testing.assert_array_equal(heard, np.resize(ramp(0.1), len(heard)))


def test_a_stereo_file_is_heard_as_the_mean_of_its_channels(tmp_path: Path) -> None:
    left, right = np.full(RATE // 10, 1000, np.int16), np.full(RATE // 10, 3000, np.int16)
    with wave.open(str(tmp_path / "s.wav"), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(np.column_stack([left, right]).tobytes())
    heard, _ = hear(f"file:{tmp_path / 's.wav'}", RATE // 10)
    assert set(heard[:RATE // 10].tolist()) == {2000}


def test_the_null_input_hears_silence_at_the_rate_asked_for() -> None:
    heard, rate = hear("null", RATE)
    assert rate == 24_000 and len(heard) >= RATE and not heard.any()


def test_a_stream_replacing_another_hears_the_file_where_the_room_is(tmp_path: Path) -> None:
    """Standby swaps the input stream for one with longer periods: the file plays on."""
    save_wav(tmp_path / "q.wav", ramp(1.5), RATE)
    first = Heard(round(0.3 * RATE))
    device, stream, _ = open_input(f"file:{tmp_path / 'q.wav'}", first)
    stream.start_stream()
    assert first.enough.wait(20)
    second = Heard(FRAMES * 2)
    again, replacement, _ = open_input(device.name, second, previous=device, chunk_ms=2 * CHUNK_MS)
    replacement.start_stream()
    assert second.enough.wait(20)
    stream.close()
    replacement.close()
    assert again is device
    later = second.samples()
    assert later[0] >= len(first.samples()), "the replacement started the file over"
    np.testing.assert_array_equal(later, ramp(1.5)[later[0]:later[0] + len(later)])


def test_a_callback_that_completes_stops_the_calls(tmp_path: Path) -> None:
    heard = Heard(FRAMES, finish=True)
    _, stream, _ = open_input("null", heard)
    stream.start_stream()
    assert heard.enough.wait(20)
    stream.stop_stream()
    assert heard.calls == 1 and stream.is_stopped()


class Speaker:
    """An output callback playing `pcm` in periods, then silence; counts what it handed out."""

    def __init__(self, pcm: np.ndarray) -> None:
        self.pcm = pcm.tobytes()
        self.offset = 0
        self.done = threading.Event()

    def __call__(self, data: bytes | None, frames: int, times: dict[str, float],
                 status: int) -> tuple[bytes, int]:
        assert data is None
        out = self.pcm[self.offset:self.offset + 2 * frames]
        self.offset += 2 * frames
        if self.offset >= len(self.pcm) + 2 * frames:
            self.done.set()
        return out + bytes(2 * frames - len(out)), pyaudio.paContinue


def play(device: Device, pcm: np.ndarray) -> None:
    speaker = Speaker(pcm)
    stream, rate = open_stream(None, device, "output", rate=RATE, chunk_ms=CHUNK_MS, callback=speaker)
    assert rate == RATE
    stream.start_stream()
    try:
        assert speaker.done.wait(20), "the virtual speaker did not play"
    finally:
        stream.close()


def test_an_output_file_holds_what_the_speaker_played_across_its_streams(tmp_path: Path) -> None:
    """The output stream stops when idle and starts again: the file goes on, it is not
    written afresh."""
    path = tmp_path / "answer.wav"
    device = choose_device([], f"file:{path}", "output")
    play(device, ramp(0.2))
    written, rate = load_wav(path)
    assert rate == RATE
    np.testing.assert_array_equal(written[:len(ramp(0.2))], ramp(0.2))
    play(device, ramp(0.1) + 7)
    written, _ = load_wav(path)
    np.testing.assert_array_equal(written[-len(ramp(0.1)) - FRAMES:-FRAMES], ramp(0.1) + 7)
    assert len(written) % FRAMES == 0 and len(written) >= len(ramp(0.3)) + 2 * FRAMES


def test_an_output_file_is_a_whole_wav_while_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "answer.wav"
    speaker = Speaker(ramp(10.0))
    device = choose_device([], f"file:{path}", "output")
    stream, _ = open_stream(None, device, "output", rate=RATE, chunk_ms=CHUNK_MS, callback=speaker)
    stream.start_stream()
    try:
        def written() -> int:
            with wave.open(str(path), "rb") as wav:
                return wav.getnframes()
        deadline = threading.Event()
        while written() < RATE // 10 and not deadline.wait(0.02):
            pass
        pcm, _ = load_wav(path)
        np.testing.assert_array_equal(pcm, ramp(10.0)[:len(pcm)])
    finally:
        stream.close()


def test_an_output_file_at_the_wav_size_limit_stops_whole_and_drops_what_plays(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "answer.wav"
    WavSink(path, RATE, append=False).close()
    os.truncate(path, 44 + MAX_WAV_DATA - 100)  # sparse: 100 bytes short of the 4 GiB
    sink = WavSink(path, RATE, append=True)
    with caplog.at_level(logging.WARNING, "voiced.audio"):
        sink.write(bytes(1000))
        wait_for(lambda: sink.failed, 30, "the writer to stop at the limit")
        for _ in range(100):
            sink.write(bytes(1000))
        assert sink.queued == 0
        sink.close()
    assert path.stat().st_size == 44 + MAX_WAV_DATA
    with path.open("rb") as file:
        header = file.read(44)
    assert struct.unpack_from("<I", header, 4)[0] == 36 + MAX_WAV_DATA
    assert struct.unpack_from("<I", header, 40)[0] == MAX_WAV_DATA
    assert ["4 GiB" in record.getMessage() for record in caplog.records] == [True]


FAILING_DISK = """
import resource, signal, sys, time
from pathlib import Path
from voiced.audio.virtual import WavSink

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (8192, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
sink = WavSink(Path(sys.argv[1]), 24000, append=False)
deadline = time.monotonic() + 30
while not sink.failed and time.monotonic() < deadline:
    sink.write(bytes(960))
    time.sleep(0.001)
for _ in range(1000):
    sink.write(bytes(960))
print(sink.failed, sink.queued)
sink.close()
"""


def test_an_output_file_that_cannot_be_written_drops_what_plays(tmp_path: Path) -> None:
    """A full disk (here a file size limit): the writer stops, says so once, and the audio
    is dropped rather than queued for as long as voiced runs."""
    writer = subprocess.run([sys.executable, "-c", FAILING_DISK, str(tmp_path / "answer.wav")],
                            capture_output=True, text=True, timeout=60)
    assert (writer.returncode, writer.stdout) == (0, "True 0\n"), writer.stderr
    [line] = writer.stderr.splitlines()
    assert "File too large; what plays from now on is dropped" in line


def test_the_null_output_writes_nothing(tmp_path: Path) -> None:
    device = choose_device([], "NULL", "output")
    play(device, ramp(0.1))
    assert device.name == "NULL" and device.virtual is not None and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("wanted", "message"), [
    ("file:{tmp}/missing.wav", "cannot open input device 'file:{tmp}/missing.wav': cannot read "
                               "{tmp}/missing.wav: No such file or directory"),
    ("file:{tmp}/eight.wav", "cannot open input device 'file:{tmp}/eight.wav': {tmp}/eight.wav: "
                             "not 16-bit PCM (8-bit)"),
    ("file:{tmp}/noise.wav", "cannot open input device 'file:{tmp}/noise.wav': cannot read {tmp}/noise.wav: "
                             "file does not start with RIFF id"),
    ("file:", "'file:' names no file: write file:PATH.wav"),
])
def test_a_bad_input_file_is_one_readable_error(tmp_path: Path, wanted: str, message: str) -> None:
    with wave.open(str(tmp_path / "eight.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(bytes(800))
    (tmp_path / "noise.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(DeviceError) as error:
        open_input(wanted.format(tmp=tmp_path), Heard(1))
    assert str(error.value) == message.format(tmp=tmp_path)


def test_an_output_file_in_a_missing_folder_is_one_readable_error(tmp_path: Path) -> None:
    device = choose_device([], f"file:{tmp_path}/no/such/folder/a.wav", "output")
    with pytest.raises(DeviceError, match=r"^cannot open output device .*: cannot write .*a\.wav: "
                                          r"No such file or directory$"):
        open_stream(None, device, "output", rate=RATE, chunk_ms=CHUNK_MS, callback=Speaker(ramp(0.1)))


def test_virtual_devices_need_no_portaudio_devices_and_show_as_such() -> None:
    device = choose_device([], " file:~/q.wav?loop ", "input")
    assert device.virtual is not None and device.virtual.loop
    assert device.virtual.path == Path("~/q.wav").expanduser()
    assert device.name == "file:~/q.wav?loop" and device.can("input") and not device.can("output")
    assert "virtual" not in device.as_dict()
    with pytest.raises(DeviceError, match="no input device found"):
        choose_device([], "usb", "input")  # a PortAudio name still needs PortAudio's devices
