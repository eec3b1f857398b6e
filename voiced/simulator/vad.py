"""Server VAD by signal energy.

The real service runs a neural VAD; the simulator only needs one that is
predictable, so that a test can say "1 s of tone between silences" and know where
speech starts and stops. Audio is cut into 10 ms frames and each frame's RMS level
(dBFS) is compared with a level derived from the session's ``threshold``:

    level_dbfs = -70 + 60 * threshold

so 0.0 hears everything above -70 dBFS (room noise), the default 0.5 needs
-40 dBFS (quiet speech into a headset), 1.0 needs -10 dBFS (shouting). Speech
starts after :data:`ACTIVATION_MS` of consecutive loud frames (a click does not
count) and is dated from its first loud frame minus ``prefix_padding_ms``; it
stops once ``silence_duration_ms`` of quiet frames have passed, dated at the end
of that silence, as the service does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from voiced.pcm import pcm_bytes

FRAME_MS = 10
ACTIVATION_MS = 20
_FRAME_BYTES = pcm_bytes(FRAME_MS)


def threshold_to_dbfs(threshold: float) -> float:
    """The frame level (dBFS) a session ``threshold`` in 0..1 asks for."""
    return -70.0 + 60.0 * min(1.0, max(0.0, threshold))


def frame_dbfs(frame: bytes) -> float:
    """RMS level of PCM16 samples in dBFS (-inf for digital silence)."""
    samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
    if not samples.size:
        return -math.inf
    rms = math.sqrt(float(np.mean(samples * samples)))
    return 20.0 * math.log10(rms / 32768.0) if rms else -math.inf


@dataclass(frozen=True)
class SpeechStarted:
    """Speech began at `audio_start_ms` (session timeline, prefix padding included)."""

    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    """Speech ended at `audio_end_ms` (session timeline, trailing silence included)."""

    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped


class EnergyVad:
    """Feed it audio in any chunk size; it reports where speech starts and stops.

    Times are on the session's input timeline: milliseconds of audio appended since
    the session began. ``floor_ms`` keeps a start from reaching back before the
    current input buffer (audio already committed or cleared).
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        prefix_padding_ms: int = 300,
        silence_duration_ms: int = 500,
        position_ms: int = 0,
    ) -> None:
        self.level_dbfs = threshold_to_dbfs(threshold)
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.speaking = False
        self._pending = b""
        self._position_ms = position_ms
        self._loud_run_ms = 0
        self._quiet_run_ms = 0

    def feed(self, pcm: bytes, *, floor_ms: int = 0) -> list[VadEvent]:
        """Consume `pcm` (appended at the current position); return what it revealed."""
        events: list[VadEvent] = []
        data = self._pending + pcm
        whole = len(data) - len(data) % _FRAME_BYTES
        self._pending = data[whole:]
        for offset in range(0, whole, _FRAME_BYTES):
            loud = frame_dbfs(data[offset : offset + _FRAME_BYTES]) >= self.level_dbfs
            self._position_ms += FRAME_MS
            event = self._step(loud, floor_ms)
            if event is not None:
                events.append(event)
        return events

    def reset(self) -> None:
        """Forget any speech in progress (after a manual commit or a clear)."""
        self.speaking = False
        self._loud_run_ms = 0
        self._quiet_run_ms = 0

    def _step(self, loud: bool, floor_ms: int) -> VadEvent | None:
        if not self.speaking:
            self._loud_run_ms = self._loud_run_ms + FRAME_MS if loud else 0
            if self._loud_run_ms < ACTIVATION_MS:
                return None
            self.speaking = True
            self._quiet_run_ms = 0
            onset_ms = self._position_ms - self._loud_run_ms
            return SpeechStarted(max(floor_ms, onset_ms - self.prefix_padding_ms))
        self._quiet_run_ms = 0 if loud else self._quiet_run_ms + FRAME_MS
        if self._quiet_run_ms < self.silence_duration_ms:
            return None
        self.reset()
        return SpeechStopped(self._position_ms)
