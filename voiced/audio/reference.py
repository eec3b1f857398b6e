"""The echo reference: exactly what the output callback handed to the device, and when it sounds.

The output callback runs in PortAudio's thread and must never wait, so it only
appends the buffer it already built (an immutable `bytes`, no copy) and a timestamp
to a bounded deque; `deque.append` and `popleft` are atomic in CPython, so there is
no lock to contend for. The trio side drains it with every microphone frame. If the
trio side stalls, the oldest chunks fall off the far end: the echo canceller loses a
stretch of reference, the audio thread loses nothing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

MAX_SECONDS = 2.0
"""How much unread reference the deque holds before dropping the oldest."""


@dataclass(frozen=True)
class PlayedChunk:
    """One output buffer as handed to the device: PCM16 mono at the device's rate."""

    pcm: bytes
    audible_at: float
    """`time.monotonic()` when its first sample reaches the speaker."""


class PlayedAudio:
    """A bounded single-producer (audio thread), single-consumer (trio) queue of output buffers."""

    def __init__(self, rate: int, chunk_ms: int) -> None:
        self.rate = rate
        self._chunks: deque[PlayedChunk] = deque(maxlen=max(4, int(MAX_SECONDS * 1000 / max(1, chunk_ms))))

    def push(self, pcm: bytes, audible_at: float) -> None:
        """Called from the output callback: never blocks, never grows past its bound."""
        self._chunks.append(PlayedChunk(pcm, audible_at))

    def drain(self) -> list[PlayedChunk]:
        """Everything pushed since the last drain, oldest first."""
        chunks = []
        while True:
            try:
                chunks.append(self._chunks.popleft())
            except IndexError:
                return chunks
