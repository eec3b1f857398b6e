"""The short sounds played on waking and on going to standby, and how to keep their echo off the wire.

A cue starts while the user may still be speaking (voice woke voiced a moment ago),
so gating the microphone on its echo would throw away the very words that woke it.
The cues are built from two pure tones instead: `CueEcho` recognises played cue audio
by fitting those tones to it, and takes the cue's echo out of the microphone the same
way, in 5 ms blocks, whatever the echo path's gain and delay (a linear path turns a
tone into the same tone, scaled and shifted). What is left is the user.
"""

from __future__ import annotations

import numpy as np

from voiced.pcm import WIRE_RATE

LEVEL = 0.12
"""About -18 dBFS: audible, not startling."""

FREQS = (660.0, 880.0)
"""The cues' only frequencies (rising on waking, falling on going to standby)."""

BLOCK_S = 0.005
"""The length the tones are fitted over: short enough that a cue's fades are nearly
linear within a block, long enough to tell the two tones apart from speech."""

EXPLAINED_DB = 20.0
"""Played audio is cue audio when fitting the cue's tones leaves less than this below it..."""

QUIET_REST_DBFS = -50.0
"""... or, where the tones still dominate (a fade's last block), leaves less than this."""


def _beep(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(WIRE_RATE * seconds)) / WIRE_RATE
    envelope = np.minimum(1.0, np.minimum(t, seconds - t) / 0.01)  # 10 ms fades: no clicks
    return np.sin(2 * np.pi * freq * t) * envelope * LEVEL


def _cue(*freqs: float) -> bytes:
    gap = np.zeros(int(WIRE_RATE * 0.03))
    parts = [part for freq in freqs for part in (_beep(freq, 0.08), gap)]
    return (np.concatenate(parts) * 32767).astype(np.int16).tobytes()


WAKE_CUE = _cue(*FREQS)
SLEEP_CUE = _cue(*reversed(FREQS))


class _ToneFit:
    """Least-squares fit of the cue's tones, each with a linear envelope, to blocks of one rate."""

    def __init__(self, rate: int) -> None:
        self.block = max(8, round(rate * BLOCK_S))
        n = np.arange(self.block)
        ramp = n / self.block
        columns = [f(2 * np.pi * freq * n / rate) * shape
                   for freq in FREQS for f in (np.sin, np.cos) for shape in (1.0, ramp)]
        self._basis = np.stack(columns, axis=1)
        self._solve = np.linalg.pinv(self._basis)

    def split(self, pcm: bytes) -> tuple[np.ndarray, np.ndarray]:
        """The samples as (the cue's tones, the rest), whole blocks; a partial tail counts as rest."""
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
        whole = len(samples) - len(samples) % self.block
        blocks = samples[:whole].reshape(-1, self.block)
        tones = np.zeros_like(samples)
        tones[:whole] = ((blocks @ self._solve.T) @ self._basis.T).reshape(-1)
        return tones, samples - tones


class CueEcho:
    """Tells played cue audio from other audio, and takes the cue's echo out of microphone frames."""

    def __init__(self, played_rate: int, mic_rate: int = WIRE_RATE) -> None:
        self._played = _ToneFit(played_rate)
        self._mic = self._played if mic_rate == played_rate else _ToneFit(mic_rate)

    def is_cue(self, pcm: bytes) -> bool:
        """Whether a played buffer is (nearly) nothing but the cue's tones."""
        tones, rest = self._played.split(pcm)
        tone_power, rest_power = float(np.dot(tones, tones)), float(np.dot(rest, rest))
        if rest_power >= tone_power:
            return False
        quiet = rest_power < len(rest) * 32768.0**2 * 10 ** (QUIET_REST_DBFS / 10)
        return quiet or rest_power * 10 ** (EXPLAINED_DB / 10) < tone_power

    def remove(self, pcm: bytes) -> tuple[bytes, float]:
        """The frame without the cue's tones, and how much of its power those tones were (0..1)."""
        tones, rest = self._mic.split(pcm)
        total = float(np.dot(tones, tones) + np.dot(rest, rest))
        cleaned = np.clip(np.round(rest), -32768, 32767).astype(np.int16).tobytes()
        return cleaned, (float(np.dot(tones, tones)) / total if total > 0 else 0.0)
