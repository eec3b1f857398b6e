"""Test signals and the measurements tests assert on: speech, tones, envelopes, spans.

Assertions on real audio compare energy over time rather than samples: what arrives
through a device is delayed, possibly resampled and mixed, but its envelope keeps
the shape of what was played.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import soxr

from tests.support.pulse import RATE, require_tools

FLOOR_DBFS = -120.0


def load_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit WAV as int16 mono (channels averaged) and its sample rate."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit WAV is supported")
        channels, rate = wav.getnchannels(), wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.int16)
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return pcm, rate


def save_wav(path: str | Path, pcm: np.ndarray, rate: int = RATE) -> None:
    """Write int16 mono PCM as a WAV file."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.asarray(pcm, dtype="<i2").tobytes())


def resample(pcm: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Band-limited resampling of int16 mono PCM."""
    if from_rate == to_rate:
        return np.asarray(pcm, dtype=np.int16)
    return soxr.resample(np.asarray(pcm, dtype=np.int16), from_rate, to_rate)


def speak(
    text: str,
    path: str | Path | None = None,
    rate: int = RATE,
    voice: str = "en-us",
    words_per_minute: int = 175,
) -> np.ndarray:
    """Synthesize ``text`` with espeak-ng as int16 mono at ``rate``; also save it to ``path``.

    espeak-ng renders at 22050 Hz; the result is resampled so it can go straight into
    a 24 kHz device without the server resampling it again.
    """
    require_tools("espeak-ng")
    with tempfile.TemporaryDirectory(prefix="voiced-speak-") as tmp:
        raw_wav = Path(tmp) / "speech.wav"
        client_conf = Path(tmp) / "client.conf"
        client_conf.write_text("autospawn = no\n")
        # espeak-ng opens a PulseAudio client even when writing a file; point it at nothing
        # so it never reaches (or spawns) a user's server or writes into their home.
        quiet_pulse = {
            "PULSE_SERVER": f"unix:{tmp}/no-server",
            "PULSE_RUNTIME_PATH": str(Path(tmp) / "runtime"),
            "PULSE_CLIENTCONFIG": str(client_conf),
        }
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(raw_wav), text],
            check=True,
            capture_output=True,
            timeout=30,
            env={**os.environ, **quiet_pulse},
        )
        pcm, native_rate = load_wav(raw_wav)
    pcm = resample(pcm, native_rate, rate)
    if path is not None:
        save_wav(path, pcm, rate)
    return pcm


def tone(seconds: float, freq: float = 440.0, rate: int = RATE, amplitude: float = 0.5) -> np.ndarray:
    """A sine tone as int16 mono; ``amplitude`` is a fraction of full scale.

    5 ms fades at both ends keep the edges from clicking (a click smears the spectrum
    but also shows up as energy outside the tone's span).
    """
    n = round(seconds * rate)
    signal = amplitude * np.sin(2 * np.pi * freq * np.arange(n) / rate)
    fade = min(n // 2, round(0.005 * rate))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        signal[:fade] *= ramp
        signal[n - fade :] *= ramp[::-1]
    return np.round(signal * 32767).astype(np.int16)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    """Digital silence as int16 mono."""
    return np.zeros(round(seconds * rate), dtype=np.int16)


def energy_envelope(pcm: np.ndarray, rate: int = RATE, window_ms: float = 20) -> np.ndarray:
    """RMS level per non-overlapping window in dBFS (full-scale sine is about -3 dBFS).

    Digital silence reads as ``FLOOR_DBFS``; a trailing partial window is dropped.
    """
    window = max(1, round(rate * window_ms / 1000))
    count = len(pcm) // window
    frames = np.asarray(pcm[: count * window], dtype=np.float64).reshape(count, window) / 32768
    rms = np.sqrt(np.mean(frames**2, axis=1))
    with np.errstate(divide="ignore"):
        return np.maximum(20 * np.log10(rms), FLOOR_DBFS)


def active_spans(
    pcm: np.ndarray,
    rate: int = RATE,
    threshold_dbfs: float = -45,
    min_gap_ms: float = 150,
    window_ms: float = 10,
) -> list[tuple[float, float]]:
    """The ``(start_s, end_s)`` stretches louder than ``threshold_dbfs``.

    Quieter gaps shorter than ``min_gap_ms`` (pauses between words) are bridged, so a
    spoken sentence is one span. Resolution is ``window_ms``.
    """
    envelope = energy_envelope(pcm, rate, window_ms)
    step = window_ms / 1000
    spans: list[tuple[float, float]] = []
    for index in np.flatnonzero(envelope > threshold_dbfs):
        start, end = index * step, (index + 1) * step
        if spans and start - spans[-1][1] < min_gap_ms / 1000:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def envelope_similarity(
    played: np.ndarray,
    arrived: np.ndarray,
    rate: int = RATE,
    window_ms: float = 10,
    floor_dbfs: float = -60,
    max_lag_s: float | None = None,
) -> tuple[float, float]:
    """How well the envelope of ``arrived`` matches ``played``, at the best lag.

    Returns ``(correlation, lag_s)``: the Pearson correlation of the two dB envelopes
    (clipped at ``floor_dbfs`` so noise below it does not count) over their overlap,
    maximised over lags; ``lag_s`` > 0 means ``arrived`` is that much later. Lags that
    leave less than half of ``played`` overlapping are not considered.
    """
    a = np.maximum(energy_envelope(played, rate, window_ms), floor_dbfs)
    b = np.maximum(energy_envelope(arrived, rate, window_ms), floor_dbfs)
    step = window_ms / 1000
    min_overlap = max(2, len(a) // 2)
    limit = len(b) if max_lag_s is None else round(max_lag_s / step)
    best = (-1.0, 0.0)
    for lag in range(-min(limit, len(a)), min(limit, len(b)) + 1):
        # a[i] is compared with b[i + lag]
        a_start, b_start = max(0, -lag), max(0, lag)
        n = min(len(a) - a_start, len(b) - b_start)
        if n < min_overlap:
            continue
        x, y = a[a_start : a_start + n], b[b_start : b_start + n]
        if x.std() == 0 or y.std() == 0:
            continue
        correlation = float(np.corrcoef(x, y)[0, 1])
        if correlation > best[0]:
            best = (correlation, lag * step)
    return best
