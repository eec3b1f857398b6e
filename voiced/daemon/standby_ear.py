"""Deciding, on this machine alone, when to wake from standby.

In standby nothing leaves the machine. Microphone frames are kept in a short ring (the
pre-roll, so the words that woke us are sent too) and shown to the local voice
activity detector (WebRTC's VAD, via webrtcvad-wheels: small, C, no model to fetch) and
to any wake detectors plugins provide. The VAD wakes only on sustained voice that is
also loud enough: its own decision alone fires on steady background noise.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from typing import Protocol

import webrtcvad

from voiced.audio.levels import level_dbfs, voice_floor_dbfs
from voiced.audio.resample import Resampler
from voiced.pcm import WIRE_RATE, pcm_bytes
from voiced.plugin_host.api import WakeDetector

log = logging.getLogger("voiced.listen")

VAD_RATE = 16_000
VAD_FRAME_MS = 20
VOICED_WINDOW = 15
"""Frames of 20 ms looked at together: 300 ms."""
VOICED_NEEDED = 10
"""Of which this many must be voice: 200 ms of speech wakes, a cough does not."""
PRE_ROLL_MS = 1000


class ClosableDetector(WakeDetector, Protocol):
    """A plugin's wake detector for one stretch of standby (the plugin host guards it)."""

    def close(self) -> None:
        """Standby ended: stop feeding it and release what it holds."""


class StandbyEar:
    """Standby's ear: keeps the pre-roll and says when voice (or a plugin) should wake us."""

    def __init__(self, threshold: float, detectors: Iterable[ClosableDetector] = (),
                 use_vad: bool = True) -> None:
        self.floor_dbfs = voice_floor_dbfs(threshold)
        self.detectors = list(detectors)
        self.use_vad = use_vad
        self._vad = webrtcvad.Vad(2)
        self._to_vad = Resampler(WIRE_RATE, VAD_RATE)
        self._pending = b""
        self._recent: deque[bool] = deque(maxlen=VOICED_WINDOW)
        self._pre_roll: deque[bytes] = deque()
        self._pre_roll_bytes = 0

    def set_threshold(self, threshold: float) -> None:
        """`[audio] vad_threshold` changed."""
        self.floor_dbfs = voice_floor_dbfs(threshold)

    def feed(self, pcm: bytes) -> str | None:
        """Keep the frame; return what woke us ("voice" or "wake word") or None."""
        self._keep(pcm)
        for detector in tuple(self.detectors):
            try:
                if detector.feed(pcm):
                    return "wake word"
            except Exception:  # a broken detector must not break standby
                log.exception("wake detector %r failed; no longer used", detector)
                self.detectors.remove(detector)
        if self.use_vad and self._voice(pcm):
            return "voice"
        return None

    def pre_roll(self) -> list[bytes]:
        """The last second of audio, oldest first; the ring starts again empty."""
        frames = list(self._pre_roll)
        self.reset()
        return frames

    def reset(self) -> None:
        """Forget what was heard, including what the VAD had not looked at yet (it decides
        mid-frame): stale at the next standby."""
        self._pre_roll.clear()
        self._pre_roll_bytes = 0
        self._recent.clear()
        self._pending = b""
        self._to_vad = Resampler(WIRE_RATE, VAD_RATE)

    def _keep(self, pcm: bytes) -> None:
        self._pre_roll.append(pcm)
        self._pre_roll_bytes += len(pcm)
        limit = pcm_bytes(PRE_ROLL_MS)
        while self._pre_roll_bytes - len(self._pre_roll[0]) >= limit:
            self._pre_roll_bytes -= len(self._pre_roll.popleft())

    def _voice(self, pcm: bytes) -> bool:
        self._pending += self._to_vad(pcm)
        step = pcm_bytes(VAD_FRAME_MS, VAD_RATE)
        while len(self._pending) >= step:
            chunk, self._pending = self._pending[:step], self._pending[step:]
            loud = level_dbfs(chunk) >= self.floor_dbfs
            self._recent.append(loud and self._vad.is_speech(chunk, VAD_RATE))
            if sum(self._recent) >= VOICED_NEEDED:
                return True  # now, not after the rest of a long frame
        return False
