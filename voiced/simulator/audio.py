"""Simulated audio: the wire format, tones, WAV files.

Everything here is PCM16 little-endian mono at 24 kHz, the GA ``audio/pcm`` format,
held as ``bytes`` so it can be sliced into deltas without copies of numpy arrays.
The format's constants come from :mod:`voiced.pcm`, the one place that defines the
wire format for client and simulated server alike.
"""

from __future__ import annotations

import base64
import binascii
import wave
from pathlib import Path
from typing import Any

import numpy as np

from voiced.pcm import SAMPLE_BYTES, WIRE_RATE, pcm_bytes

BYTES_PER_MS = pcm_bytes(1)
"""48: whole, so the simulator's timeline of whole milliseconds stays integer arithmetic
(``int(pcm_ms(n))`` can round one millisecond short)."""

#: How long a synthesized reply to a typed turn lasts per character of its text:
#: about the pace of speech (15 characters a second).
TONE_SECONDS_PER_CHAR = 0.065
TONE_MIN_S = 0.3
TONE_MAX_S = 12.0
#: -12 dBFS: clearly audible, never clipping.
TONE_AMPLITUDE = 0.25


def duration_ms(pcm: bytes) -> int:
    """Whole milliseconds of audio in `pcm`."""
    return len(pcm) // BYTES_PER_MS


def decode_base64_pcm(data: str) -> bytes:
    """Decode an ``input_audio_buffer.append`` payload; ValueError when it is not PCM16."""
    try:
        pcm = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not valid base64: {exc}") from None
    if len(pcm) % SAMPLE_BYTES:
        raise ValueError(f"{len(pcm)} bytes is not a whole number of 16-bit samples")
    return pcm


def encode_base64(pcm: bytes) -> str:
    """Base64 text for a ``response.output_audio.delta``."""
    return base64.b64encode(pcm).decode("ascii")


def tone(seconds: float, freq: float = 440.0) -> bytes:
    """A sine tone with 10 ms fades, so that cutting it short or starting it never clicks."""
    n = max(0, round(seconds * WIRE_RATE))
    t = np.arange(n) / WIRE_RATE
    signal = TONE_AMPLITUDE * np.sin(2 * np.pi * freq * t)
    fade = min(n // 2, WIRE_RATE // 100)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        signal[:fade] *= ramp
        signal[-fade:] *= ramp[::-1]
    return (signal * 32767).astype("<i2").tobytes()


def tone_for_text(text: str) -> bytes:
    """The audible stand-in for speaking `text`: a 440 Hz tone as long as saying it would take."""
    seconds = min(TONE_MAX_S, max(TONE_MIN_S, len(text) * TONE_SECONDS_PER_CHAR))
    return tone(seconds)


def load_wav(path: Path) -> bytes:
    """Read a PCM WAV file as 24 kHz mono PCM16, resampling with soxr when needed.

    Raises ValueError naming the problem for anything that is not 8/16/32-bit PCM.
    """
    try:
        with wave.open(str(path), "rb") as wav:
            channels = wav.getnchannels()
            width = wav.getsampwidth()
            rate = wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"{path}: not a PCM WAV file ({exc})") from None
    dtypes: dict[int, np.dtype[Any]] = {1: np.dtype(np.uint8), 2: np.dtype("<i2"), 4: np.dtype("<i4")}
    if width not in dtypes:
        raise ValueError(f"{path}: {8 * width}-bit samples are not supported (use 16-bit PCM)")
    samples = np.frombuffer(frames, dtype=dtypes[width]).astype(np.float64)
    if width == 1:
        samples = (samples - 128.0) / 128.0
    else:
        samples /= float(2 ** (8 * width - 1))
    samples = samples.reshape(-1, channels).mean(axis=1)
    if rate != WIRE_RATE:
        import soxr

        samples = soxr.resample(samples, rate, WIRE_RATE)
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
