"""Playing assistant audio, and counting exactly how much of each item was played.

The PortAudio output callback pulls from a bounded queue of chunks filled by the trio
thread. It counts the samples it hands to the device per assistant item: that count,
not wall time, is what a truncation after an interruption reports as heard.

`stop()` is called from the trio thread and returns at once: it keeps a 10 ms fade of
the audio that was next in line (so the cut does not click), drops the rest, and
reports the item's final count including that fade, which the next callback plays.

The stream runs only while there is something to play (`voiced.audio.duplex` starts
it when `on_queued` fires and stops it once `idle_for()` is long): `hold()` makes the
callback hand silence and leave the queue alone while the stream is being stopped,
since a stop throws away what the device still buffers.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyaudio

from voiced.audio.resample import Resampler
from voiced.pcm import WIRE_RATE, pcm_bytes, pcm_ms

log = logging.getLogger("voiced.audio")

FADE_MS = 10
MAX_QUEUED_SECONDS = 600
"""The queue's bound: ten minutes of speech; a response longer than that loses its tail."""


@dataclass
class _Chunk:
    item_id: str
    pcm: bytes
    offset: int = 0
    counted: bool = False
    """Already in the item's played count (the fade `stop` keeps)."""

    @property
    def remaining(self) -> int:
        return len(self.pcm) - self.offset


class Playback:
    """One output stream; `enqueue` and `stop` from trio, the callback from PortAudio.

    The callbacks are called from the audio thread, so they must be thread-safe and
    never block (the daemon passes `run_sync_soon` into trio): `on_drained()` when the
    queue runs dry after playing something, `on_item_started(item_id, handed_at, delay_s)`
    when an item's first sample is handed to the device (at monotonic `handed_at`),
    `delay_s` before it is heard.
    """

    def __init__(self, device_rate: int, *, on_drained: Callable[[], None],
                 on_item_started: Callable[[str, float, float], None]) -> None:
        self.rate = device_rate
        self._resample = Resampler(WIRE_RATE, device_rate)
        self._on_drained = on_drained
        self._on_item_started = on_item_started
        self._lock = threading.Lock()
        self._queue: deque[_Chunk] = deque()
        self._queued_bytes = 0
        self._max_bytes = pcm_bytes(MAX_QUEUED_SECONDS * 1000, device_rate)
        self._played: dict[str, int] = {}
        self._was_playing = False
        self._holding = False
        self._last_audio_at = -math.inf
        self.last_callback_at = -math.inf
        """`time.monotonic()` of the latest callback: a running stream that stops calling is stuck."""
        self.on_queued: Callable[[], None] = lambda: None
        """Called in trio after `enqueue` queued something: the stream may need starting."""
        self.default_delay_s = 0.0
        """The stream's reported output latency, used when PortAudio gives no timestamps."""
        self.underruns = 0
        self.dropped_bytes = 0
        self.gain = 1.0
        """The output volume's amplitude factor (0-1), applied as the callback hands audio out."""
        self.taps: list[Callable[[bytes, float], None]] = []
        """Each gets every buffer handed to the device and the monotonic time it sounds (the
        echo reference, recordings); called in the audio thread, so they must only append."""

    # -- trio side -----------------------------------------------------------------

    def enqueue(self, item_id: str, pcm: bytes) -> None:
        """Queue 24 kHz PCM16 for `item_id`; never blocks on the device."""
        data = self._resample(pcm)
        if not data:
            return
        with self._lock:
            if self._queued_bytes + len(data) > self._max_bytes:
                self.dropped_bytes += len(data)
                return
            self._queue.append(_Chunk(item_id, data))
            self._queued_bytes += len(data)
            self._played.setdefault(item_id, 0)
        self.on_queued()

    def stop(self) -> None:
        """Fade out what plays next over 10 ms and drop everything after it."""
        fade_bytes = pcm_bytes(FADE_MS, self.rate)
        with self._lock:
            tail = bytearray()
            item_id = None
            while self._queue and len(tail) < fade_bytes:
                chunk = self._queue[0]
                item_id = item_id or chunk.item_id
                if chunk.item_id != item_id:
                    break
                take = min(fade_bytes - len(tail), chunk.remaining)
                tail += chunk.pcm[chunk.offset:chunk.offset + take]
                chunk.offset += take
                if chunk.remaining == 0:
                    self._queue.popleft()
            self._queue.clear()
            self._queued_bytes = 0
            if tail and item_id is not None:
                samples = np.frombuffer(bytes(tail), dtype=np.int16).astype(np.float32)
                samples *= np.linspace(1.0, 0.0, num=len(samples), dtype=np.float32)
                faded = samples.astype(np.int16).tobytes()
                self._queue.append(_Chunk(item_id, faded, counted=True))
                self._queued_bytes = len(faded)
                self._played[item_id] = self._played.get(item_id, 0) + len(faded) // 2

    def played_ms(self, item_id: str) -> float:
        """Milliseconds of `item_id` handed to the device (after `stop`, its fade included)."""
        with self._lock:
            return self._played.get(item_id, 0) / self.rate * 1000

    def forget(self, item_id: str) -> None:
        """Drop an item's count once nothing will ask for it again."""
        with self._lock:
            self._played.pop(item_id, None)

    @property
    def queued_ms(self) -> float:
        return pcm_ms(self._queued_bytes, self.rate)

    def idle_for(self, now: float) -> float:
        """Seconds since the callback last handed out audio, 0 while some is queued."""
        with self._lock:
            return 0.0 if self._queue else max(0.0, now - self._last_audio_at)

    def hold(self, holding: bool) -> None:
        """While held, the callback plays silence and takes nothing from the queue."""
        with self._lock:
            self._holding = holding

    def retune(self, device_rate: int) -> None:
        """The device was reopened at another rate: resample what comes from now on for it."""
        if device_rate != self.rate:
            with self._lock:
                self.rate = device_rate
                self._resample = Resampler(WIRE_RATE, device_rate)

    # -- audio thread ------------------------------------------------------------

    def callback(self, _in: bytes | None, frame_count: int, time_info: dict,
                 status: int) -> tuple[bytes, int]:
        """PortAudio's output callback: fill `frame_count` samples, count what each item gave."""
        self.last_callback_at = time.monotonic()
        if status & pyaudio.paOutputUnderflow:
            self.underruns += 1
        need = frame_count * 2
        out = bytearray(need)
        filled = 0
        drained = False
        started: list[str] = []
        with self._lock:
            if self._holding:
                return bytes(need), pyaudio.paContinue
            while filled < need and self._queue:
                chunk = self._queue[0]
                take = min(need - filled, chunk.remaining)
                out[filled:filled + take] = chunk.pcm[chunk.offset:chunk.offset + take]
                chunk.offset += take
                filled += take
                self._queued_bytes -= take
                if not chunk.counted:
                    before = self._played.get(chunk.item_id, 0)
                    if before == 0:
                        started.append(chunk.item_id)
                    self._played[chunk.item_id] = before + take // 2
                if chunk.remaining == 0:
                    self._queue.popleft()
            if filled:
                self._was_playing = True
                self._last_audio_at = self.last_callback_at
            if not self._queue and self._was_playing:
                self._was_playing = False
                drained = True
        if started:
            handed_at, delay = time.monotonic(), _device_delay(time_info, self.default_delay_s)
            for item_id in started:
                self._on_item_started(item_id, handed_at, delay)
        if drained:
            self._on_drained()
        gain = self.gain
        data = bytes(out) if gain == 1.0 or not filled else scaled(out, gain)
        if self.taps:
            # from the callback's start: a thread preempted while it filled the buffer must not
            # stamp it late (the reference would be laid out after a gap that never was)
            sounds_at = self.last_callback_at + _device_delay(time_info, self.default_delay_s)
            for tap in self.taps:
                tap(data, sounds_at)
        return data, pyaudio.paContinue


def scaled(pcm: bytes | bytearray, gain: float) -> bytes:
    """PCM16 with every sample multiplied by `gain` (at most 1, so nothing clips)."""
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) * gain
    return samples.astype(np.int16).tobytes()


def _device_delay(time_info: dict, fallback: float) -> float:
    """Seconds until this buffer reaches the DAC, from PortAudio's timestamps when it has them."""
    dac, now = time_info.get("output_buffer_dac_time", 0.0), time_info.get("current_time", 0.0)
    if dac and now and 0 <= dac - now < 1:
        return dac - now
    return fallback
