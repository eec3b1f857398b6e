"""Capturing the microphone into trio without ever blocking the audio thread.

The PortAudio input callback copies each period and hands it to the trio thread with
`run_sync_soon`, which never waits. On the trio side a bounded memory channel holds the
frames; when the consumer falls behind, new frames are dropped and counted rather than
held up in the audio thread.

Waking the trio thread is most of what listening costs, so while nothing is going on
(nobody is speaking or being answered, and the room is quiet or only steadily noisy)
periods travel in batches of `QUIET_BATCH_MS`. Anything that may be a voice (near a
voice's level and above the room's noise) goes at once, together with what waited
before it, and so does everything while the daemon says it is `prompt`. Every period
keeps its own capture time, so echo control and the server's timeline see exactly what
they would have seen period by period; only quiet audio is late, by at most a batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import pyaudio
import trio

from voiced.audio.echo import EchoControl
from voiced.audio.levels import level_dbfs
from voiced.audio.resample import Resampler
from voiced.config import WIRE_RATE

log = logging.getLogger("voiced.audio")

QUEUE_FRAMES = 100
"""Two seconds of 20 ms frames: enough to ride out a busy moment, small enough to stay live."""

QUIET_BATCH_MS = 200
"""How much quiet audio may wait for company. The server's VAD looks back 300 ms for the
start of speech (`prefix_padding_ms`), and the loud period that starts speech takes
what waited with it, so the wait costs the conversation nothing."""

LOUD_HANGOVER_S = 1.0
"""After a period as loud as a voice, every period goes at once for this long: speech
has quiet gaps, and the server should hear the end of a phrase without delay."""

QUIET_MARGIN_DB = 10.0
"""Periods more than this below `[audio] vad_threshold`'s level may wait: a soft start
of speech is not mistaken for quiet."""

NOISE_MARGIN_DB = 6.0
"""In a room noisier than that, periods within this of the noise floor may wait too:
a fan or a hum is not a voice, and a voice rises above it."""

NOISE_RISE_DB_PER_S = 3.0
"""The noise floor follows quieter periods at once and louder ones this slowly, so a fan
that starts is learned in seconds while a few seconds of speech barely move it."""

NOISE_START_DBFS = -70.0


@dataclass(frozen=True)
class MicFrame:
    """Microphone audio at the wire's rate: one period, or a batch of quiet ones."""

    pcm: bytes
    captured_at: float
    """`time.monotonic()` when the callback received its last period."""

    @property
    def started_at(self) -> float:
        """`captured_at` less the frame's duration: when its first sample came in, on the same clock."""
        return self.captured_at - len(self.pcm) / 2 / WIRE_RATE


class Capture:
    """One input stream delivering `MicFrame`s into a bounded trio channel."""

    def __init__(self, device_rate: int, trio_token: trio.lowlevel.TrioToken, *,
                 voice_floor_dbfs: float) -> None:
        self.rate = device_rate
        self._resample = Resampler(device_rate, WIRE_RATE)
        self._token = trio_token
        self._send, self.frames = trio.open_memory_channel[MicFrame](QUEUE_FRAMES)
        self.overruns = 0
        self.dropped = 0
        self.echo: EchoControl | None = None
        """Takes the assistant's echo out of each frame before it is queued."""
        self.last_callback_at = time.monotonic()
        """`time.monotonic()` of the latest callback: when it stops coming, the device is stuck."""
        self.prompt = True
        """Deliver every period at once (set from the trio thread; read by the callback)."""
        self.quiet_below_dbfs = voice_floor_dbfs - QUIET_MARGIN_DB
        self.noise_dbfs = NOISE_START_DBFS
        """The room's noise floor, as the quietest recent periods measure it."""
        self.batches = 0
        """Deliveries to the trio thread (fewer than periods while it is quiet)."""
        self._waiting: list[tuple[bytes, float]] = []
        self._waiting_frames = 0
        self._loud_until = -1.0

    def retune(self, device_rate: int) -> None:
        """The device was reopened at another rate."""
        self._waiting, self._waiting_frames = [], 0  # quiet periods of the stream that is gone
        if device_rate != self.rate:
            self.rate = device_rate
            self._resample = Resampler(device_rate, WIRE_RATE)

    def callback(self, in_data: bytes | None, frame_count: int, _time: dict, status: int) -> tuple[None, int]:
        """PortAudio's input callback: pass the period on (or let a quiet one wait), never block."""
        now = self.last_callback_at = time.monotonic()
        if status & pyaudio.paInputOverflow:
            self.overruns += 1
        if not in_data:
            return None, pyaudio.paContinue
        self._waiting.append((in_data, now))
        self._waiting_frames += frame_count
        if (self.prompt or self._loud(in_data, frame_count, now)
                or self._waiting_frames * 1000 >= QUIET_BATCH_MS * self.rate):
            periods, self._waiting, self._waiting_frames = self._waiting, [], 0
            try:
                self._token.run_sync_soon(self._deliver, periods)
            except trio.RunFinishedError:
                return None, pyaudio.paComplete
        return None, pyaudio.paContinue

    def _loud(self, data: bytes, frame_count: int, now: float) -> bool:
        """Whether this period, or one less than `LOUD_HANGOVER_S` ago, may be a voice."""
        level = level_dbfs(data)
        risen = self.noise_dbfs + NOISE_RISE_DB_PER_S * frame_count / self.rate
        self.noise_dbfs = max(min(level, risen), NOISE_START_DBFS)
        if level >= max(self.quiet_below_dbfs, self.noise_dbfs + NOISE_MARGIN_DB):
            self._loud_until = now + LOUD_HANGOVER_S
        return now < self._loud_until

    def _deliver(self, periods: list[tuple[bytes, float]]) -> None:
        self.batches += 1
        cleaned = []
        for data, captured_at in periods:
            pcm = self._resample(data)
            if self.echo is not None:
                pcm = self.echo.process(pcm, captured_at)
            cleaned.append(pcm)
        pcm = b"".join(cleaned)
        if not pcm:
            return
        try:
            self._send.send_nowait(MicFrame(pcm, periods[-1][1]))
        except trio.WouldBlock:
            self.dropped += 1

    def close(self) -> None:
        self._send.close()
