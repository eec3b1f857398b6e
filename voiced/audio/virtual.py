"""Virtual sound devices that need no sound card or sound server: `null` and `file:PATH.wav`.

`[audio] input_device = "file:question.wav"` plays the file into the microphone in real
time, then silence (`file:question.wav?loop` plays it again and again);
`output_device = "file:answer.wav"` writes what the speaker plays into a WAV file as it
plays; `null` hears silence, or plays into nothing.

A `VirtualStream` stands in for a PyAudio callback stream: a thread of its own calls the
same callback with the same arguments once a period, paced by the clock instead of a sound
card, so capture, played-sample counting, barge-in, truncation and recording run
unchanged. Like a room, an input device's file plays on one timeline from the moment its
first stream starts: a stream that replaces another (standby's longer periods) hears the
file where the room is, not from the beginning.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import struct
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import pyaudio

log = logging.getLogger("voiced.audio")

NULL = "null"
FILE_PREFIX = "file:"
LOOP_SUFFIX = "?loop"
LATE_S = 0.5
"""A pacing thread this far behind (a stalled machine) skips ahead, as a sound card would
drop what nobody read, rather than rushing through the backlog."""

Callback = Callable[[bytes | None, int, dict[str, float], int], tuple[bytes | None, int]]


class VirtualDeviceError(Exception):
    """A virtual device that cannot be opened; phrased for a user."""


def is_virtual(wanted: str | None) -> bool:
    """Whether `wanted` (an `[audio] *_device` value) names a virtual device."""
    if wanted is None:
        return False
    wanted = wanted.strip()
    return wanted.lower() == NULL or wanted.lower().startswith(FILE_PREFIX)


class VirtualDevice:
    """One virtual device as configured (`null`, `file:PATH.wav`, `file:PATH.wav?loop`).

    It outlives its streams: an input file's timeline and an output file's contents go on
    across the streams opened on it.
    """

    def __init__(self, wanted: str) -> None:
        self.name = wanted.strip()
        spec = self.name[len(FILE_PREFIX):] if self.name.lower().startswith(FILE_PREFIX) else None
        self.loop = spec is not None and spec.endswith(LOOP_SUFFIX)
        if spec is not None and self.loop:
            spec = spec[:-len(LOOP_SUFFIX)]
        self.path = Path(spec).expanduser() if spec else None
        if spec is not None and not spec:
            raise VirtualDeviceError(f"{self.name!r} names no file: write file:PATH.wav")
        self._lock = threading.Lock()
        self._recording: np.ndarray | None = None
        self._rate = 0
        self._started_at: float | None = None
        self._written = False
        """The output file has its header: later streams append to it."""

    def open(self, direction: Literal["input", "output"], *, rate: int, chunk_ms: int,
             callback: Callback) -> tuple[VirtualStream, int]:
        """A stream of `chunk_ms` periods calling `callback`, not started, and its rate: the
        file's own for an input file, else `rate`. Raises VirtualDeviceError."""
        if direction == "input":
            if self.path is not None and self._recording is None:
                self._recording, self._rate = _read_wav(self.path)
            stream_rate = self._rate if self.path is not None else rate
            source = self._hear if self.path is not None else None
            return VirtualStream(self, "input", stream_rate, chunk_ms, callback, source=source), stream_rate
        sink = self._open_sink(rate) if self.path is not None else None
        return VirtualStream(self, "output", rate, chunk_ms, callback, sink=sink), rate

    def timeline_start(self) -> float:
        """When this device's recording began to play (the first stream's start)."""
        with self._lock:
            if self._started_at is None:
                self._started_at = time.monotonic()
            return self._started_at

    def _hear(self, first: int, count: int) -> bytes:
        """`count` samples of the recording from sample `first` of its timeline."""
        assert self._recording is not None
        recording = self._recording
        if self.loop and len(recording):
            return np.take(recording, range(first, first + count), mode="wrap").tobytes()
        out = np.zeros(count, dtype=np.int16)
        part = recording[max(0, first):max(0, first + count)]
        out[:len(part)] = part
        return out.tobytes()

    def _open_sink(self, rate: int) -> WavSink:
        assert self.path is not None
        try:
            sink = WavSink(self.path, rate, append=self._written)
        except OSError as exc:
            raise VirtualDeviceError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._written = True
        return sink


class VirtualStream:
    """A PyAudio stream's stand-in (`start_stream`, `stop_stream`, `is_stopped`, `close`,
    the latencies): a thread calls `callback` once a period, on the clock."""

    def __init__(self, device: VirtualDevice, direction: Literal["input", "output"], rate: int,
                 chunk_ms: int, callback: Callback, *,
                 source: Callable[[int, int], bytes] | None = None, sink: WavSink | None = None) -> None:
        self.device = device
        self.rate = rate
        self.frames = max(1, rate * chunk_ms // 1000)
        self._callback = callback
        self._source = source
        self._sink = sink
        self._input = direction == "input"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start_stream(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"virtual {self.device.name}", daemon=True)
        self._thread.start()

    def stop_stream(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    def is_stopped(self) -> bool:
        return self._thread is None

    def is_active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        self.stop_stream()
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def get_input_latency(self) -> float:
        return 0.0

    def get_output_latency(self) -> float:
        return 0.0

    def _run(self) -> None:
        period_s = self.frames / self.rate
        start = time.monotonic()
        origin = self.device.timeline_start() if self._source is not None else start
        sample = round((start - origin) * self.rate)
        due = start + period_s
        status = 0
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            now = time.monotonic()
            if now - due > LATE_S:  # skip what a sound card would have dropped meanwhile
                skipped = int((now - due) / period_s)
                sample += skipped * self.frames
                due += skipped * period_s
                status = pyaudio.paInputOverflow if self._input else pyaudio.paOutputUnderflow
            times = {"input_buffer_adc_time": now, "current_time": now, "output_buffer_dac_time": now}
            heard = self._heard(sample)
            data, flag = self._callback(heard, self.frames, times, status)
            if self._sink is not None and data:
                self._sink.write(data)
            sample += self.frames
            due += period_s
            status = 0
            if flag != pyaudio.paContinue:
                return

    def _heard(self, sample: int) -> bytes | None:
        if not self._input:
            return None
        return self._source(sample, self.frames) if self._source else bytes(2 * self.frames)


class WavSink:
    """A mono PCM16 WAV file written as the speaker plays it: a thread of its own writes,
    so the pacing thread never waits on the disk, and the header is kept right after
    every write, so the file is a whole WAV at any moment.

    Once the file cannot take more (a write fails, or it reaches the 4 GiB a WAV can
    hold), the writer stops, says so once, and what plays from then on is dropped."""

    def __init__(self, path: Path, rate: int, *, append: bool) -> None:
        self.path = path
        self._file: BinaryIO = path.open("r+b" if append and path.exists() else "w+b")
        self._file.seek(0, 2)
        if self._file.tell() < _HEADER.size:
            self._file.seek(0)
            self._file.truncate()
            self._file.write(_header(rate, 0))
            self._file.flush()
        self._failed = threading.Event()
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_all, name=f"writing {path.name}", daemon=True)
        self._thread.start()

    @property
    def failed(self) -> bool:
        """The file takes no more: what is written now is dropped."""
        return self._failed.is_set()

    @property
    def queued(self) -> int:
        """Pieces waiting for the writer thread."""
        return self._queue.qsize()

    def write(self, pcm: bytes) -> None:
        """Queue `pcm` for the file (drop it once the file takes no more); never blocks."""
        if not self._failed.is_set():
            self._queue.put(pcm)

    def close(self) -> None:
        """Write what is queued and close the file."""
        self._queue.put(None)
        self._thread.join()

    def _write_all(self) -> None:
        try:
            while (pcm := self._queue.get()) is not None:
                while True:  # take what else waits: one header update for the lot
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._queue.put(None)
                        break
                    pcm += more
                self._append(pcm)
        except (OSError, struct.error, _Full) as exc:
            self._failed.set()
            log.warning("virtual output %s: %s; what plays from now on is dropped", self.path, exc)
            self._drain()
        finally:
            with contextlib.suppress(OSError):  # a failed write leaves its bytes in the buffer
                self._file.close()

    def _drain(self) -> None:
        """Empty the queue, up to `close`'s end mark if it is there (write adds no more)."""
        while True:
            try:
                if self._queue.get_nowait() is None:
                    return
            except queue.Empty:
                return

    def _append(self, pcm: bytes) -> None:
        self._file.seek(0, 2)
        room = MAX_WAV_DATA - (self._file.tell() - _HEADER.size)
        self._file.write(pcm[:max(0, room)])
        size = self._file.tell() - _HEADER.size
        self._file.seek(4)
        self._file.write(struct.pack("<I", 36 + size))
        self._file.seek(40)
        self._file.write(struct.pack("<I", size))
        self._file.flush()
        if len(pcm) >= room:
            raise _Full("the file holds the 4 GiB a WAV file can")


class _Full(Exception):
    """The WAV file holds all it can."""


MAX_WAV_DATA = (0xFFFFFFFF - 36) & ~1
"""The samples a WAV file can hold (its RIFF size is 32 bits), in whole 16-bit samples."""
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")


def _header(rate: int, size: int) -> bytes:
    """A mono 16-bit PCM WAV header for `size` bytes of samples."""
    return _HEADER.pack(b"RIFF", 36 + size, b"WAVE", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16,
                        b"data", size)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A 16-bit WAV file's samples (channels averaged to mono) and its rate."""
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise VirtualDeviceError(f"{path}: not 16-bit PCM ({8 * wav.getsampwidth()}-bit)")
            channels, rate = wav.getnchannels(), wav.getframerate()
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    except (OSError, EOFError, wave.Error) as exc:
        raise VirtualDeviceError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    log.debug("virtual input %s: %.1f s at %d Hz", path, len(samples) / rate, rate)
    return samples, rate

