"""How loud PCM16 audio is, in dBFS, and how loud a voice must be to count."""

from __future__ import annotations

import math

import numpy as np


def level_dbfs(pcm: bytes | np.ndarray) -> float:
    """The RMS level of PCM16 samples in dBFS; -inf for digital silence or no samples."""
    samples = np.frombuffer(pcm, dtype=np.int16) if isinstance(pcm, bytes) else pcm
    if not samples.size:
        return -math.inf
    power = float(np.dot(samples, samples.astype(np.float64))) / samples.size
    return 10.0 * math.log10(power / 32768.0**2) if power > 0 else -math.inf


def voice_floor_dbfs(threshold: float) -> float:
    """The quietest voice that counts, from `[audio] vad_threshold` (0..1).

    The same mapping the simulator's server VAD uses: 0.5 means -40 dBFS.
    """
    return -70.0 + 60.0 * threshold
