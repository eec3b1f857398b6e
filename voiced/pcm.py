"""The audio format voiced speaks inside: mono PCM16, little-endian, at 24 kHz (the wire's).

Every conversion between a length of PCM16 bytes and a duration goes through here, so
the arithmetic is written once.
"""

from __future__ import annotations

WIRE_RATE = 24_000
"""Samples per second of the Realtime API's `audio/pcm` format, and of voiced's own audio."""
SAMPLE_BYTES = 2
"""One PCM16 sample, one channel."""


def pcm_ms(nbytes: int, rate: int = WIRE_RATE) -> float:
    """Milliseconds of mono PCM16 at `rate` in `nbytes`."""
    return nbytes * 1000 / (SAMPLE_BYTES * rate)  # exact for whole milliseconds


def pcm_bytes(ms: float, rate: int = WIRE_RATE) -> int:
    """Bytes of mono PCM16 at `rate` that last `ms` milliseconds (whole samples)."""
    return int(rate * ms // 1000) * SAMPLE_BYTES
