"""Capturing the microphone into trio without ever blocking the audio thread.

The PortAudio input callback copies each period and hands it to the trio thread with
`run_sync_soon`, which never waits. On the trio side a bounded memory channel holds the
frames; when the consumer falls behind, new frames are dropped and counted rather than
held up in the audio thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import pyaudio
import trio

from voiced.audio.echo import EchoControl
from voiced.audio.resample import Resampler
from voiced.config import WIRE_RATE

log = logging.getLogger("voiced.audio")

QUEUE_FRAMES = 100
"""Two seconds of 20 ms frames: enough to ride out a busy moment, small enough to stay live."""


@dataclass(frozen=True)
class MicFrame:
    """One period of microphone audio at the wire's rate."""

    pcm: bytes
    captured_at: float
    """`time.monotonic()` when the callback received it."""


class Capture:
    """One input stream delivering `MicFrame`s into a bounded trio channel."""

    def __init__(self, device_rate: int, trio_token: trio.lowlevel.TrioToken) -> None:
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

    def retune(self, device_rate: int) -> None:
        """The device was reopened at another rate."""
        if device_rate != self.rate:
            self.rate = device_rate
            self._resample = Resampler(device_rate, WIRE_RATE)

    def callback(self, in_data: bytes | None, frame_count: int, _time: dict, status: int) -> tuple[None, int]:
        """PortAudio's input callback: pass the period on, never wait."""
        now = self.last_callback_at = time.monotonic()
        if status & pyaudio.paInputOverflow:
            self.overruns += 1
        if in_data:
            try:
                self._token.run_sync_soon(self._deliver, in_data, now)
            except trio.RunFinishedError:
                return None, pyaudio.paComplete
        return None, pyaudio.paContinue

    def _deliver(self, data: bytes, captured_at: float) -> None:
        pcm = self._resample(data)
        if self.echo is not None:
            pcm = self.echo.process(pcm, captured_at)
            if not pcm:
                return
        try:
            self._send.send_nowait(MicFrame(pcm, captured_at))
        except trio.WouldBlock:
            self.dropped += 1

    def close(self) -> None:
        self._send.close()
