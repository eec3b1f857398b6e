"""Streaming resampling between a device's rate and the wire's 24 kHz."""

from __future__ import annotations

import numpy as np
import soxr


class Resampler:
    """Converts a stream of PCM16 mono chunks from one rate to another, keeping filter state.

    soxr's streaming mode carries the filter history across chunks, so 20 ms frames
    resample without clicks at their edges. A same-rate resampler passes bytes through.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate, self.to_rate = from_rate, to_rate
        self._stream = (None if from_rate == to_rate
                        else soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16", quality="HQ"))

    @property
    def passthrough(self) -> bool:
        return self._stream is None

    def __call__(self, pcm: bytes, *, last: bool = False) -> bytes:
        if self._stream is None:
            return pcm
        samples = np.frombuffer(pcm, dtype=np.int16)
        return self._stream.resample_chunk(samples, last=last).tobytes()
