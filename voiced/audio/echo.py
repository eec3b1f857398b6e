"""Echo control: the microphone frames the daemon sends hold the user, not the assistant's own voice.

With speakers instead of a headset the assistant hears itself, the server's VAD
takes that for the user and the assistant interrupts itself. `[audio] echo` picks
the remedy:

- ``off``: frames pass untouched (a headset, or the sound server cancels echo).
- ``gate``: an energy gate (`voiced.audio.gate`) replaces a frame with silence while
  the assistant is audible, unless it is clearly louder than the echo could be.
- ``aec`` (the default): each microphone frame is fitted with what was played
  (`voiced.audio.echo_fit`): the echo alone is explained, a voice that was not played is
  not, from its first syllable and under an echo 6 dB louder. Frames that are the user go
  to the server as WebRTC's echo canceller (`voiced.audio.aec`) left them once it lets
  the voice through, as the fit left them until then (AEC3 holds a voice back for
  150-300 ms); the rest become silence. Where the fit does not explain the room's echo,
  the canceller's record decides (`voiced.audio.gate.ResidualGate`), then the energy gate.

The wake and standby cues are kept apart from all of this (`voiced.audio.cues`): their
echo is taken out tone by tone, so the words the user is still saying as the wake
cue sounds pass in every mode.

The reference is what the output callback really handed to the device
(`voiced.audio.reference`), stamped with when it sounds; a microphone frame waits for
the reference of what sounded while it was heard (the callback hands it over in bursts).
All processing happens here, on the trio side, when a microphone frame is delivered; the
audio threads only copy and append. Frames are never dropped: a gated frame becomes
digital silence of the same length, so the server's input timeline runs on.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

from voiced.audio.aec import BLOCK_MS, EchoCanceller, EchoCancellerUnavailable
from voiced.audio.cues import CueEcho
from voiced.audio.echo_fit import AHEAD_S, EchoFit
from voiced.audio.gate import LEAD_S, SILENT_DBFS, TAIL_S, EchoGate, ResidualGate
from voiced.audio.levels import level_dbfs
from voiced.audio.reference import PlayedAudio, SoundingTimeline
from voiced.audio.resample import Resampler
from voiced.audio.virtual import is_virtual
from voiced.pcm import WIRE_RATE, pcm_bytes, pcm_ms

if TYPE_CHECKING:
    from voiced.config import AudioConfig

log = logging.getLogger("voiced.audio")

EchoMode = Literal["off", "gate", "aec"]


def mode_for(config: AudioConfig) -> EchoMode:
    """The mode in effect: `config.echo`, but ``off`` with a virtual device on either side
    (`null`, `file:`): a microphone that is a file hears no speaker, and a speaker that is
    a file sounds in no room, so there is no echo to control (nor a canceller to load)."""
    if is_virtual(config.input_device) or is_virtual(config.output_device):
        return "off"
    return config.echo


AEC_IDLE_S = 1.0
"""The canceller sleeps once nothing audible was played for this long after the echo
tail: while the daemon only listens it costs nothing. It wakes with the first audible
chunk drained, which is the device latency before that chunk sounds."""

REFERENCE_WAIT_S = 0.1
REFERENCE_RUNNING_S = 0.5
"""A microphone frame is processed once the reference of what sounded while it was heard
has arrived: the output callback hands its buffers over in bursts, and a reference
that came late used to be silence to the canceller (and the echo it explains, a voice).
It waits at most `REFERENCE_WAIT_S` (in whole input periods: up to 120 ms at 40 ms), and
not at all when the output stream stopped `REFERENCE_RUNNING_S` before."""

CANCELLER_BEHIND_DB = 6.0
"""A voice the fit found goes as the canceller left it once that is within this of what
the fit left (the canceller also takes out the echo's reverberation); until then, as
the fit left it."""

CUE_RESIDUAL_DB = 20.0
"""With the cue's tones taken out, a frame passes when what is left is no more than this
below those tones: the user (any level over an echo within 20 dB of them), not the
fades' leftovers of a cue heard alone (25-40 dB down), which become silence so that a
cue never opens a turn at the server."""


class EchoControl:
    """Turns microphone frames (PCM16 at the wire's rate) into frames without the assistant's echo.

    `process()` is called in trio with every frame; `played` is the reference the output
    callback fills. `mode` is the mode in effect. In ``aec`` the canceller is started by
    the owner when it is first wanted (`wants_canceller`, `new_canceller` in a worker
    thread, `attach` in trio): its library costs 14 MB that a daemon in standby does not
    need; until then the fit decides alone. ``aec`` falls back to ``gate`` (with a
    warning) when the canceller cannot start.
    """

    def __init__(self, mode: EchoMode, played: PlayedAudio, *, input_latency_s: float,
                 output_latency_s: float) -> None:
        self.played = played
        self.input_latency_s = input_latency_s
        self._delay_ms = round((input_latency_s + output_latency_s) * 1000)
        self.canceller: EchoCanceller | None = None
        self.wants_canceller = mode == "aec"
        self.mode: EchoMode = mode
        self.gate = EchoGate()
        self.residual = ResidualGate()
        self.fit = EchoFit(WIRE_RATE)
        self._reference_resample = Resampler(played.rate, WIRE_RATE)
        self._reference = SoundingTimeline(WIRE_RATE, LEAD_S)
        self._waiting: deque[tuple[bytes, float]] = deque()
        """Microphone frames whose reference has not arrived yet (`process`)."""
        self._rest = b""
        """The end of the last frame that was not a whole 10 ms block (`process`)."""
        self.aec_active = False
        """The canceller is processing (the assistant was audible lately)."""
        self.frames_gated = 0
        """Frames that carried sound and were sent as silence."""
        self.frames_cancelled = 0
        self.cue_echo = CueEcho(played.rate)
        self._cue_span = (-1.0, -1.0)
        """When the latest cue sounded: first and last moment (monotonic)."""

    def new_canceller(self) -> EchoCanceller | None:
        """Start a canceller (blocking: the library loads; call in a worker thread), or None."""
        try:
            return EchoCanceller(WIRE_RATE, self._delay_ms)
        except EchoCancellerUnavailable as exc:
            log.warning("echo cancellation unavailable, gating instead: %s", exc)
            return None

    def attach(self, canceller: EchoCanceller | None) -> None:
        """Use the canceller `new_canceller` started; None: gate instead."""
        self.wants_canceller = False
        self.canceller = canceller
        if canceller is None:
            self.mode = "gate"

    def process(self, pcm: bytes, captured_at: float) -> bytes:
        """One microphone frame, captured by the callback at `captured_at` (monotonic), cleaned.

        Returns PCM of the same length, except in ``aec``: there the audio is cut into whole
        10 ms blocks (the canceller's and the fit's unit; a device at its own rate delivers
        other lengths), the rest waiting for the next frame, and a frame whose reference
        has not arrived yet waits for it (up to `REFERENCE_WAIT_S`) and comes out with a
        later one. What comes out ends `held_s` before `captured_at`.
        """
        if self.mode == "off":
            return pcm
        self._take_played()
        if self.mode != "aec" and not self._waiting and not self._rest:
            return self._process(pcm, captured_at)
        pcm, self._rest = self._rest + pcm, b""
        if self.mode == "aec":
            whole = len(pcm) - len(pcm) % pcm_bytes(BLOCK_MS)
            pcm, self._rest = pcm[:whole], pcm[whole:]
        if pcm:
            self._waiting.append((pcm, captured_at - pcm_ms(len(self._rest)) / 1000))
        out = []
        while self._waiting and (self.mode != "aec"
                                 or self._reference_ready(self._waiting[0][1], newest=captured_at)):
            out.append(self._process(*self._waiting.popleft()))
        return b"".join(out)

    @property
    def held_s(self) -> float:
        """How long before the last frame's `captured_at` what `process` returned ends."""
        return pcm_ms(len(self._rest) + sum(len(pcm) for pcm, _ in self._waiting)) / 1000

    def _take_played(self) -> None:
        for chunk in self.played.drain():
            end = chunk.audible_at + pcm_ms(len(chunk.pcm), self.played.rate) / 1000
            level_db = level_dbfs(chunk.pcm)
            if level_db > SILENT_DBFS and self.cue_echo.is_cue(chunk.pcm):
                first, last = self._cue_span
                self._cue_span = (chunk.audible_at if chunk.audible_at > last + TAIL_S else first, end)
            else:
                self.gate.played(chunk.audible_at, end, level_db)
            if self.mode == "aec":
                self._reference.add(self._reference_resample(chunk.pcm), chunk.audible_at)

    def _reference_ready(self, captured_at: float, *, newest: float) -> bool:
        """Whether the reference of the frame captured at `captured_at` has arrived, or never will
        (the output stream is not running) or has been waited for long enough."""
        needed = captured_at - self.input_latency_s + self._reference.lead_s + AHEAD_S
        return (self._reference.end >= needed or self._reference.end < needed - REFERENCE_RUNNING_S
                or newest - captured_at >= REFERENCE_WAIT_S)

    def _process(self, pcm: bytes, captured_at: float) -> bytes:
        heard_end = captured_at - self.input_latency_s
        heard_start = heard_end - pcm_ms(len(pcm)) / 1000
        heard = pcm
        if self.mode == "aec":
            pcm = self._cancel(pcm, heard_start, heard_end)
        if pcm and self._cue_audible(heard_start, heard_end):
            pcm = self._without_cue(pcm)
        if not pcm or not self.gate.echo_possible(heard_start, heard_end):
            return pcm
        if self.mode == "aec":  # whole blocks: the canceller returns as much as it is given
            return self._double_talk(heard, pcm, heard_start, heard_end)
        level_db = level_dbfs(pcm)
        if self.gate.admit(heard_start, heard_end, level_db, level_dbfs(heard)):
            return pcm
        return self._gated(pcm, level_db)

    def _double_talk(self, heard: bytes, cleaned: bytes, start: float, end: float) -> bytes:
        """Behind the canceller: the user's voice passes, the assistant's echo does not.

        The fit (`voiced.audio.echo_fit`) decides where it explains the room's echo. Where
        it does not, the canceller's record decides once it has one
        (`voiced.audio.gate.ResidualGate`), and until then the energy gate on what the
        microphone heard: as in `gate` mode, so that a room with no echo at all (nothing
        for the fit to learn from) still lets the user through. A voice goes as the
        canceller left it once the canceller lets it through, and until then (AEC3 holds a
        voice back for 150-300 ms) as the fit left it."""
        heard_db, level_db, seconds = level_dbfs(heard), level_dbfs(cleaned), end - start
        passed = self.gate.admit(start, end, heard_db)
        fit = self.fit.fit(heard)
        voice = fit.residual if fit is not None else heard
        if self._cue_audible(start, end):  # as `cleaned` is: without the cue's tones
            voice = self.cue_echo.remove(voice)[0]
        behind = self.canceller is None or level_db < level_dbfs(voice) - CANCELLER_BEHIND_DB
        if fit is not None:
            user = self.fit.user(fit)
            decides = self.fit.explains_echo
            self.fit.learn(fit, user)
            if decides:
                return (voice if behind else cleaned) if user else self._gated(cleaned, level_db)
        if self.canceller is not None:
            certain = False
            if self.residual.decides(heard_db) and not self.gate.onset(start, end):
                passed = self.residual.admit(heard_db, level_db)
                certain = passed and self.residual.certain(heard_db, level_db)
            self.residual.learn(heard_db, level_db, seconds, passed)
            if certain:
                return heard
        if not passed:
            return self._gated(cleaned, level_db)
        return voice if behind else cleaned

    def _gated(self, pcm: bytes, level_db: float) -> bytes:
        if level_db > SILENT_DBFS:
            self.frames_gated += 1
        return bytes(len(pcm))

    def _cue_audible(self, start: float, end: float) -> bool:
        first, last = self._cue_span
        return first - LEAD_S <= end and start <= last + TAIL_S

    def _without_cue(self, pcm: bytes) -> bytes:
        """The frame with the cue's tones taken out, or silence if nothing but the cue is left."""
        cleaned, tone_share = self.cue_echo.remove(pcm)
        if tone_share < 1 - 10 ** (-CUE_RESIDUAL_DB / 10):
            return cleaned
        return self._gated(pcm, level_dbfs(cleaned))

    def _cancel(self, pcm: bytes, heard_start: float, heard_end: float) -> bytes:
        reference = self._reference.take(heard_end, len(pcm) // 2)  # asleep too: it keeps in step
        self.fit.reference(reference, self._reference.peek(round(AHEAD_S * WIRE_RATE)))
        if self.canceller is None:
            return pcm
        if self.gate.audible_until + self.gate.tail_s + AEC_IDLE_S < heard_start:
            if self.aec_active:
                self.aec_active = False
                return self.canceller.flush() + pcm
            return pcm
        if not self.aec_active:
            self.canceller.clear_history()
        self.aec_active = True
        self.canceller.played(reference)
        self.frames_cancelled += 1
        return self.canceller.cancel(pcm)

    @staticmethod
    def closed(mode: EchoMode) -> dict[str, Any]:
        """What `describe()` says before the devices are open."""
        return {"mode": mode, "aec_active": False, "frames_gated": 0, "frames_cancelled": 0,
                "echo_gain_db": None, "aec_erle_db": None, "echo_left_db": None}

    def describe(self) -> dict[str, Any]:
        """The mode in effect and a few counters, for `status`."""
        return {
            "mode": self.mode,
            "aec_active": self.aec_active,
            "frames_gated": self.frames_gated,
            "frames_cancelled": self.frames_cancelled,
            "echo_gain_db": round(self.gate.gain_db, 1),
            "aec_erle_db": round(self.residual.erle_db, 1) if self.canceller is not None else None,
            "echo_left_db": round(self.fit.echo_db, 1) if self.mode == "aec" else None,
        }
