"""Acoustic echo cancellation: WebRTC's AEC3, through the `livekit` package's audio processing module.

livekit (the LiveKit real-time SDK) ships WebRTC's audio processing in a prebuilt
manylinux/macOS/Windows wheel and exposes it as `rtc.AudioProcessingModule`: it
works offline (nothing is fetched at run time) and accepts 24 kHz directly, so
neither side is resampled for it. It is imported only when `echo = "aec"` asks for
it, once voiced first listens (`voiced.audio.echo.EchoControl.new_canceller`): the
library costs about 14 MB of resident memory and a few native threads (idle).

AEC3 works in 10 ms blocks. The reference (what the speaker played) is fed with
`process_reverse_stream` ahead of the microphone blocks that hold its echo; AEC3
estimates the delay between them itself, `set_stream_delay_ms` only hints at it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from voiced.pcm import WIRE_RATE, pcm_bytes

BLOCK_MS = 10
HISTORY_S = 0.5
"""Longer than the history AEC3 reaches back into (its delay search and filter)."""


class EchoCancellerUnavailable(RuntimeError):
    """The AEC library is missing or does not load on this platform; phrased for a user."""


class EchoCanceller:
    """Removes the echo of `played()` audio from `cancel()`ed microphone audio, PCM16 mono.

    Both streams are cut into 10 ms blocks; a partial block waits for the next call,
    so `cancel()` returns whole blocks only (as many bytes as it was given when the
    frames are multiples of 10 ms, which 20 ms frames at 24 kHz are).
    """

    def __init__(self, rate: int = WIRE_RATE, delay_ms: int = 0) -> None:
        try:
            from livekit import rtc
        except ImportError as exc:  # also OSError-like failures of the native library
            raise EchoCancellerUnavailable(
                f"echo = \"aec\" needs the livekit package ({exc}); pip install livekit") from None
        try:
            self._apm = rtc.AudioProcessingModule(echo_cancellation=True, high_pass_filter=True)
        except Exception as exc:  # the FFI library failed to load or to start
            raise EchoCancellerUnavailable(f"WebRTC audio processing did not start: {exc}") from None
        self._frame = rtc.AudioFrame
        self.rate = rate
        self.delay_ms = delay_ms
        self._block_bytes = pcm_bytes(BLOCK_MS, rate)
        self._played = bytearray()
        self._heard = bytearray()

    def played(self, pcm: bytes) -> None:
        """Feed reference audio, in the order it was played."""
        self._played += pcm
        while len(self._played) >= self._block_bytes:
            self._apm.process_reverse_stream(self._block(self._played))
            del self._played[:self._block_bytes]

    def cancel(self, pcm: bytes) -> bytes:
        """Microphone audio in, the same audio without the echo out (whole blocks only)."""
        self._heard += pcm
        whole = len(self._heard) - len(self._heard) % self._block_bytes
        if not whole:
            return b""
        out = bytearray(whole)
        for offset in range(0, whole, self._block_bytes):
            frame = self._block(self._heard, offset)
            self._apm.set_stream_delay_ms(self.delay_ms)  # APM wants it before every block
            self._apm.process_stream(frame)
            out[offset:offset + self._block_bytes] = frame.data.cast("B")
        del self._heard[:whole]
        return bytes(out)

    def clear_history(self, seconds: float = HISTORY_S) -> None:
        """Run `seconds` of silence through both sides, keeping the learned echo path.

        After a pause the processing still holds what it was given before: the audio
        played last and, in its own processing delay, the microphone's last audio.
        Resumed as is, its first frame out carried sound from before the pause (a voice
        at -27 dBFS in place of a quiet room: a self-interruption)."""
        silence = bytes(self._block_bytes)
        for _ in range(round(seconds * 1000 / BLOCK_MS)):
            self._apm.process_reverse_stream(self._block(bytearray(silence)))
            frame = self._block(bytearray(silence))
            self._apm.set_stream_delay_ms(self.delay_ms)
            self._apm.process_stream(frame)

    def flush(self) -> bytes:
        """The unprocessed partial block (when processing pauses); the reference's is dropped."""
        rest = bytes(self._heard)
        self._heard.clear()
        self._played.clear()
        return rest

    def _block(self, buffer: bytearray, offset: int = 0) -> Any:
        samples = self._block_bytes // 2
        return self._frame(bytearray(buffer[offset:offset + self._block_bytes]), self.rate, 1, samples)


def exit_if_loaded(code: int = 0) -> None:
    """End the process now, logs and stdio flushed, if the canceller's library was loaded.

    livekit's native runtime keeps worker threads that panic, and abort the process, when
    the interpreter finalizes under them: a clean stop ended in SIGABRT (seen in the suite,
    a daemon stopped within a second of starting). Everything voiced owns is closed by the
    time this is called; only the interpreter's own teardown is skipped."""
    if "livekit.rtc" not in sys.modules:
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
