"""The short sounds played on waking and on going to standby."""

from __future__ import annotations

import numpy as np

from voiced.pcm import WIRE_RATE

LEVEL = 0.12
"""About -18 dBFS: audible, not startling."""


def _beep(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(WIRE_RATE * seconds)) / WIRE_RATE
    envelope = np.minimum(1.0, np.minimum(t, seconds - t) / 0.01)  # 10 ms fades: no clicks
    return np.sin(2 * np.pi * freq * t) * envelope * LEVEL


def _cue(*freqs: float) -> bytes:
    gap = np.zeros(int(WIRE_RATE * 0.03))
    parts = [part for freq in freqs for part in (_beep(freq, 0.08), gap)]
    return (np.concatenate(parts) * 32767).astype(np.int16).tobytes()


WAKE_CUE = _cue(660.0, 880.0)
SLEEP_CUE = _cue(880.0, 660.0)
