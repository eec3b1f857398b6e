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


REANCHOR_S = 0.15
"""A chunk stamped this far before where the previous one ended starts a new stretch (the
output stream restarted, or its latency changed); closer, it simply follows on: the
buffers of one stream are contiguous, while their stamps jitter."""

GAP_S = 0.012
"""A chunk stamped this far after where the previous one ended follows a gap: the device
played silence (an underrun: the callback ran late on a loaded machine, by 15-120 ms in
the room bench). Laid end to end instead, every later chunk sounded that much later
than the timeline said, gap after gap, until the echo was 190 ms behind its reference."""

KEEP_S = 1.0
"""How much reference behind the canceller's position is kept."""

RESYNC_LATE_S = 0.03
RESYNC_EARLY_S = 0.25
"""How far the reference position may drift from where the microphone's clock puts it
before it is set back in step: later than that by more than `RESYNC_LATE_S` and the
echo could come before its reference (which no canceller can remove); earlier by more
than `RESYNC_EARLY_S` and the delay leaves the range AEC3 searches. In between, the
callbacks' jitter is left alone: every jump is an echo path change to the canceller."""


class SoundingTimeline:
    """Played audio laid out on the clock it sounds by, read in step with the microphone.

    The echo canceller is handed, with each microphone frame, exactly as much reference
    as the frame is long, starting where the last one ended, about `lead_s` ahead of what
    the microphone heard: the echo it must remove then lies at a small, steady delay
    behind its reference, however the output stream started, stopped or buffered in
    between (AEC3 estimates that delay once, not per answer, and loses its filter when
    the two streams do not keep one rate). Where nothing was played the reference is
    silence.
    """

    def __init__(self, rate: int, lead_s: float) -> None:
        self.rate = rate
        self.lead_s = lead_s
        self._pcm = bytearray()
        self._start = 0.0
        """When `_pcm`'s first sample sounds."""
        self._next: float | None = None
        """When the next reference sample handed out sounds."""

    @property
    def end(self) -> float:
        return self._start + len(self._pcm) / 2 / self.rate

    def add(self, pcm: bytes, audible_at: float) -> bool:
        """Audio at this timeline's rate that starts sounding at `audible_at`; True when it
        starts a new stretch (whose delay behind the reference may differ from the last)."""
        gap = audible_at - self.end
        anchored = not self._pcm or gap > GAP_S or gap < -REANCHOR_S
        if anchored:
            if not self._pcm or audible_at < self._start or audible_at - self.end > KEEP_S:
                # nothing to keep, or a gap longer than is ever read back: never pad it
                self._pcm, self._start = bytearray(), audible_at
            else:  # a gap is silence; an overlap is overwritten
                keep = 2 * round((audible_at - self._start) * self.rate)
                self._pcm = self._pcm[:keep] + bytes(max(0, keep - len(self._pcm)))
        self._pcm += pcm
        return anchored

    def peek(self, samples: int) -> bytes:
        """The reference the next `take` will start with, without taking it (silence where
        none has arrived, or before the first `take`)."""
        return bytes(2 * samples) if self._next is None else self._read(self._next, samples)

    def take(self, heard_end: float, samples: int) -> bytes:
        """The reference to feed with the microphone frame of `samples` heard until `heard_end`."""
        due = heard_end + self.lead_s - samples / self.rate
        if self._next is None or not due - RESYNC_EARLY_S <= self._next <= due + RESYNC_LATE_S:
            self._next = due
        out = self._read(self._next, samples)
        self._next += samples / self.rate
        drop = round((self._next - KEEP_S - self._start) * self.rate)
        if drop > 0:
            del self._pcm[:2 * drop]
            self._start += drop / self.rate
        return out

    def _read(self, moment: float, samples: int) -> bytes:
        """`samples` of the timeline from `moment` on, silence where there is none."""
        first = round((moment - self._start) * self.rate)
        out = bytearray(2 * samples)
        lo, hi = max(0, first), min(len(self._pcm) // 2, first + samples)
        if hi > lo:
            out[2 * (lo - first):2 * (hi - first)] = self._pcm[2 * lo:2 * hi]
        return bytes(out)
