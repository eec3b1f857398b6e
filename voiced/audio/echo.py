"""Echo control: the microphone frames the daemon sends hold the user, not the assistant's own voice.

With speakers instead of a headset the assistant hears itself, the server's VAD
takes that for the user and the assistant interrupts itself. `[audio] echo` picks
the remedy:

- ``off``: frames pass untouched (a headset, or the sound server cancels echo).
- ``gate``: an energy gate (`voiced.audio.gate`) replaces a frame with silence while
  the assistant is audible, unless it is clearly louder than the echo could be.
- ``aec``: WebRTC's echo canceller (`voiced.audio.aec`) subtracts the echo of what was
  played, then a looser gate (no margin above the predicted raw echo) catches what
  leaks while the canceller (re)converges.

The reference is what the output callback really handed to the device
(`voiced.audio.reference`), stamped with when it sounds. All processing happens here,
on the trio side, when a microphone frame is delivered; the audio threads only copy
and append. Frames are never dropped: a gated frame becomes digital silence of the
same length, so the server's input timeline runs on.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from voiced.audio.aec import EchoCanceller, EchoCancellerUnavailable
from voiced.audio.gate import SILENT_DBFS, EchoGate
from voiced.audio.levels import level_dbfs
from voiced.audio.reference import PlayedAudio, PlayedChunk
from voiced.audio.resample import Resampler
from voiced.pcm import WIRE_RATE, pcm_ms

log = logging.getLogger("voiced.audio")

EchoMode = Literal["off", "gate", "aec"]

RESIDUAL_MARGIN_DB = 0.0
"""Behind the canceller the gate passes a frame whose residual is louder than the
loudest the raw echo could be (the gate learns the echo path from the microphone
before cancellation). Once converged AEC3 leaves the echo 25-45 dB down and such
frames are the user; the gate is there for the moments it is not converged (after a
device hiccup shifts the delay, at a loud onset), when a raw echo comes through for
a few tens of ms, enough for a server VAD. Barge-in needs 10 dB less than with the
plain gate, and what is sent over the assistant is the user without the echo.
"""

AEC_IDLE_S = 1.0
"""The canceller sleeps once nothing audible was played for this long after the echo
tail: while the daemon only listens it costs nothing. It wakes with the first audible
chunk drained, which is the device latency before that chunk sounds."""


class EchoControl:
    """Turns microphone frames (PCM16 at the wire's rate) into frames without the assistant's echo.

    `process()` is called in trio with every frame; `played` is the reference the output
    callback fills. `mode` is the mode in effect: ``aec`` falls back to ``gate`` (with a
    warning) when the canceller cannot start.
    """

    def __init__(self, mode: EchoMode, played: PlayedAudio, *, input_latency_s: float,
                 output_latency_s: float) -> None:
        self.played = played
        self.input_latency_s = input_latency_s
        self.canceller: EchoCanceller | None = None
        if mode == "aec":
            try:
                delay_ms = round((input_latency_s + output_latency_s) * 1000)
                self.canceller = EchoCanceller(WIRE_RATE, delay_ms)
            except EchoCancellerUnavailable as exc:
                log.warning("echo cancellation unavailable, gating instead: %s", exc)
                mode = "gate"
        self.mode: EchoMode = mode
        self.gate = EchoGate(margin_db=RESIDUAL_MARGIN_DB) if self.canceller is not None else EchoGate()
        self._reference_resample = Resampler(played.rate, WIRE_RATE)
        self.aec_active = False
        """The canceller is processing (the assistant was audible lately)."""
        self.frames_gated = 0
        """Frames that carried sound and were sent as silence."""
        self.frames_cancelled = 0

    def process(self, pcm: bytes, captured_at: float) -> bytes:
        """One microphone frame, captured by the callback at `captured_at` (monotonic), cleaned.

        Returns PCM of the same length, except while the canceller runs on frames that
        are not whole 10 ms blocks (then it returns whole blocks and keeps the rest).
        """
        if self.mode == "off":
            return pcm
        chunks = self.played.drain()
        for chunk in chunks:
            end = chunk.audible_at + pcm_ms(len(chunk.pcm), self.played.rate) / 1000
            self.gate.played(chunk.audible_at, end, level_dbfs(chunk.pcm))
        heard_end = captured_at - self.input_latency_s
        heard_start = heard_end - pcm_ms(len(pcm)) / 1000
        heard_db = level_dbfs(pcm)
        if self.canceller is not None:
            pcm = self._cancel(chunks, pcm, heard_start)
        if not pcm or not self.gate.echo_possible(heard_start, heard_end):
            return pcm
        level_db = level_dbfs(pcm)
        if self.gate.admit(heard_start, heard_end, level_db, heard_db):
            return pcm
        if level_db > SILENT_DBFS:
            self.frames_gated += 1
        return bytes(len(pcm))

    def _cancel(self, chunks: list[PlayedChunk], pcm: bytes, heard_start: float) -> bytes:
        assert self.canceller is not None
        if self.gate.audible_until + self.gate.tail_s + AEC_IDLE_S < heard_start:
            if self.aec_active:
                self.aec_active = False
                return self.canceller.flush() + pcm
            return pcm
        self.aec_active = True
        for chunk in chunks:
            self.canceller.played(self._reference_resample(chunk.pcm))
        self.frames_cancelled += 1
        return self.canceller.cancel(pcm)

    @staticmethod
    def closed(mode: EchoMode) -> dict[str, Any]:
        """What `describe()` says before the devices are open."""
        return {"mode": mode, "aec_active": False, "frames_gated": 0, "frames_cancelled": 0,
                "echo_gain_db": None}

    def describe(self) -> dict[str, Any]:
        """The mode in effect and a few counters, for `status`."""
        return {
            "mode": self.mode,
            "aec_active": self.aec_active,
            "frames_gated": self.frames_gated,
            "frames_cancelled": self.frames_cancelled,
            "echo_gain_db": round(self.gate.gain_db, 1),
        }
