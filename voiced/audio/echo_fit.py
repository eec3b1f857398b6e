"""Double talk: is the user speaking over the assistant? Told by fitting the microphone with what was played.

Each microphone frame is fitted, by least squares, with the reference (what the speaker
played, in step with the microphone: `voiced.audio.reference.SoundingTimeline`) of the
last quarter second: first the lag at which the reference explains the frame best
(a cross-correlation over every lag, so a delay that drifts or jumps costs nothing), then
a few taps around it (a fractional delay, a resampler's filter). What the fit leaves is
the frame without the echo's direct path. The echo alone leaves 15-45 dB less than the
frame; a voice the speaker never played is left whole, from its first syllable: at an
echo 6 dB louder than the voice, the fit leaves about -7 dB of the frame.

No adaptation is involved, so nothing is lost at the start of an answer, after a pause,
at a stop or when the delay moves; AEC3 (`voiced.audio.aec`), which must relearn in
those places and holds a voice back until it is sure, cleans what is sent once it lets
the voice through. Frames are fitted in 10 ms parts, each with its own lag, and a frame
is the user's only when two parts are: a buffer the sound server dropped or repeated
spoils one. The room's reverberation of what was played just before is learned, so that
it does not pass for a voice; where the room's echo is no delayed copy at all, the fit
says so (`explains_echo`) and the caller decides otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from voiced.pcm import WIRE_RATE

AHEAD_S = 0.025
"""How much earlier than the reference handed in step an echo may come: the devices'
latencies are estimates (in the room bench the echo came 62 ms before them, 2 ms
before the reference in step, at times)."""

HISTORY_S = 0.25
"""How far back the echo's delay is searched: the delay between the reference as handed
over and its echo in the microphone (the devices' unreported latency, the acoustic path)."""

TAPS = 2
"""Taps on each side of the best lag: a fractional delay and a resampler's low-pass."""

USER_ABOVE_DB = 8.0
"""A frame the fit explains this much worse than it explains the echo alone holds a
voice that was not played: the user. So does what is left: it must be this much louder
than the room's reverberation of the audio played just before (`TAIL_S`) can be."""

TAIL_S = 0.1
"""The stretch of reference before the fitted one whose reverberation the fit does not
take out: a living room's is 20-30 dB down after 0.1 s."""

USER_FLOOR_DB = -12.0
"""... and, however well the echo is explained, one where the fit leaves less than this
(relative to the frame) is taken for echo: 4 dB above the echo's worst frames in the
loopback room, 5 dB under the user at an echo 6 dB louder than the voice."""

EXPLAINED_DB = -10.0
"""The fit decides only once it explains the echo alone this well (`echo_db`)."""

LEARN_ABOVE_DBFS = -35.0
"""Frames this loud teach `echo_db`; in quieter ones the noise floor caps the fit."""

FALL_DB_PER_S = 30.0
RISE_DB_PER_S = 10.0
"""`echo_db` follows the upper edge of what the fit leaves of the echo: down fast from its
cold 0 dB (trusted after about half a second of loud echo), up more slowly (a worse
moment of the fit, an echo path that turned reverberant)."""

PART_S = 0.01
USER_PARTS = 2
"""Frames are fitted in parts of 10 ms, each with a lag of its own; a frame is the user's
when two of its parts are (or its only one): where the echo's delay jumps (a buffer the
sound server dropped or repeated) one part is explained badly, a voice lasts longer."""

DROPOUT_DB = 3.0
GAIN_TIME_S = 0.5
STEADY_DB = -20.0
"""A part heard this much quieter than its echo (the reference at the delay last found
where the fit left less than `STEADY_DB`, at the echo path's gain learned over about
`GAIN_TIME_S`) is a stretch the sound server dropped: the fit misses it, but a voice adds
to the echo, it does not take it away."""

BROKEN_SHARE = 16
"""A part with one sample in this many exactly zero has lost capture buffers (the sound
server fills them with digital silence on a loaded machine; a microphone's own noise is
never digital silence): the fit cannot explain the edges of the hole."""

VOICE_ABOVE_DBFS = -50.0
"""A part holds a voice only if what the fit leaves is this loud: under it is the room's
noise, which no fit explains."""

REFERENCE_SILENT = 30
"""A reference history whose peak sample is under this (-61 dBFS) explains nothing."""


@dataclass(frozen=True)
class Part:
    """What the fit made of one `PART_S` of a microphone frame."""

    left_db: float
    """The level of what the fit leaves, relative to the part's (<= 0 dB)."""
    left_dbfs: float
    heard_dbfs: float
    played_dbfs: float
    """The level of the reference the part was fitted with."""
    steady_dbfs: float | None
    """The level of the reference at the delay the echo had until now (None: not known yet)."""
    delay: int
    """The delay found, in samples behind the reference in step (negative: ahead of it)."""
    broken: bool
    """Digital silence in the middle of sound: the sound server lost capture buffers."""
    tail_db: float | None
    """What is left relative to the reference played just before the fitted stretch (dB):
    the room's reverberation of it, where there is one; None if nothing was played then."""
    seconds: float


@dataclass(frozen=True)
class Fit:
    """What the fit made of one microphone frame."""

    parts: list[Part]
    residual: bytes
    """The frame minus the fitted echo, PCM16 of the same length."""


class EchoFit:
    """Fits microphone frames with the reference handed in step with them (PCM16 mono).

    Call `reference()` with every frame's reference (the same number of samples as the
    frame), then `fit()` with the frame when it is worth a look.
    """

    def __init__(self, rate: int = WIRE_RATE, history_s: float = HISTORY_S) -> None:
        self.rate = rate
        self._history = np.zeros(round(history_s * rate))
        self._window = self._history
        self._ahead = 0
        self._delay: int | None = None
        """The echo's delay as last found where the fit explained it well (`STEADY_DB`)."""
        self.echo_db = 0.0
        """What the fit leaves of the echo alone (upper edge, dB relative to the frame)."""
        self.tail_db = -math.inf
        """What the fit leaves of the echo alone relative to the reference played before
        (upper edge, dB): the room's reverberation, -inf where there is none."""
        self.gain_db: float | None = None
        """The echo path's gain: the level of the fitted echo relative to its reference."""

    @property
    def explains_echo(self) -> bool:
        return self.echo_db <= EXPLAINED_DB

    def reference(self, pcm: bytes, ahead: bytes = b"") -> None:
        """The reference that goes with the next microphone frame, and what follows it
        (`AHEAD_S`, as far as it has arrived)."""
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        in_step = np.concatenate([self._history, samples])
        self._history = in_step[len(samples):]
        self._ahead = len(ahead) // 2
        self._window = np.concatenate([in_step, np.frombuffer(ahead, dtype="<i2").astype(np.float64)])

    def fit(self, pcm: bytes) -> Fit | None:
        """Fit a microphone frame, part by part; None when nothing audible was played lately."""
        frame = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        window, n = self._window, len(frame)
        part = round(PART_S * self.rate)
        count = max(1, n // part)
        if len(window) < n + self._ahead + 2 * TAPS or np.abs(window).max() < REFERENCE_SILENT:
            return None
        bounds = [(k * n // count, (k + 1) * n // count) for k in range(count)]
        pieces = np.zeros((count, max(hi - lo for lo, hi in bounds)))
        for row, (lo, hi) in enumerate(bounds):
            pieces[row, : hi - lo] = frame[lo:hi]
        size = 1 << (len(window) + pieces.shape[1]).bit_length()
        # every part against every lag at once: [row, s] = part . window[s:s + width]
        correlations = np.fft.irfft(np.fft.rfft(window, size) * np.conj(np.fft.rfft(pieces, size)), size)
        energy = np.cumsum(np.concatenate([[0.0], window * window]))
        residual = np.empty(n)
        parts = []
        for (lo, hi), correlation in zip(bounds, correlations, strict=True):
            piece = frame[lo:hi]
            width = hi - lo
            in_step = len(window) - self._ahead - n + lo  # the reference in step with this part
            latest = min(in_step + self._ahead, len(window) - width)
            correlation = correlation[: latest + 1]
            segment = np.maximum(energy[width:width + latest + 1] - energy[: latest + 1], 1e-9)
            best = int(np.argmax(correlation * correlation / segment))
            first, last = max(0, best - TAPS), min(latest, best + TAPS)
            taps = np.stack([window[s:s + width] for s in range(first, last + 1)], axis=1)
            weights, *_ = np.linalg.lstsq(taps, piece, rcond=None)
            residual[lo:hi] = left = piece - taps @ weights
            steady = in_step - self._delay if self._delay is not None else -1
            steady_energy = float(segment[steady]) if 0 <= steady <= latest else None
            broken = np.count_nonzero(piece == 0) * BROKEN_SHARE >= width
            parts.append(self._part(float(left @ left), float(piece @ piece), width, energy, first,
                                    float(segment[best]), steady_energy, in_step - best, broken))
        left_pcm = np.clip(np.round(residual), -32768, 32767).astype("<i2")
        return Fit(parts, left_pcm.tobytes())

    def _part(self, left: float, total: float, width: int, energy: np.ndarray, first: int,
              played: float, steady: float | None, delay: int, broken: bool) -> Part:
        start = max(0, first - round(TAIL_S * self.rate))
        before = float(energy[first] - energy[start])
        audible = before > (first - start) * REFERENCE_SILENT ** 2 / 4
        return Part(left_db=min(0.0, 10 * math.log10((left + 1e-9) / (total + 1e-9))),
                    left_dbfs=_dbfs(left, width), heard_dbfs=_dbfs(total, width),
                    played_dbfs=_dbfs(played, width), delay=delay, broken=broken,
                    steady_dbfs=None if steady is None else _dbfs(steady, width),
                    tail_db=10 * math.log10((left + 1e-9) / before) if audible else None,
                    seconds=width / self.rate)

    def _voice(self, part: Part) -> bool:
        if part.broken:
            return False
        if (self.gain_db is not None and part.steady_dbfs is not None
                and part.heard_dbfs < part.steady_dbfs + self.gain_db - DROPOUT_DB):
            return False  # quieter than its echo: the echo broke off, no voice came in
        return (part.left_dbfs > VOICE_ABOVE_DBFS
                and part.left_db > max(USER_FLOOR_DB, self.echo_db + USER_ABOVE_DB)
                and (part.tail_db is None or part.tail_db > self.tail_db + USER_ABOVE_DB))

    def user(self, fit: Fit) -> bool:
        """Whether the frame fitted so holds a voice that was not played: in two of its parts
        (a single part that the fit missed is a jump in the echo's delay, not a voice)."""
        return sum(self._voice(part) for part in fit.parts) >= min(USER_PARTS, len(fit.parts))

    def learn(self, fit: Fit, user: bool) -> None:
        """Follow what the fit leaves of a frame heard while the assistant was audible."""
        for part in fit.parts:
            if part.heard_dbfs < LEARN_ABOVE_DBFS:
                continue
            self.echo_db = _follow(self.echo_db, part.left_db, part.seconds, user)
            if part.left_db < STEADY_DB and not user:  # the echo's delay and gain, where it is explained
                self._delay = part.delay
                gain_db = _dbfs_ratio(part.heard_dbfs, part.left_dbfs) - part.played_dbfs
                weight = 1.0 if self.gain_db is None else min(1.0, part.seconds / GAIN_TIME_S)
                self.gain_db = (self.gain_db or 0.0) + weight * (gain_db - (self.gain_db or 0.0))
            if part.tail_db is None:
                continue
            if self.tail_db == -math.inf:  # the first measurement
                self.tail_db = -math.inf if user else part.tail_db
            else:
                self.tail_db = _follow(self.tail_db, part.tail_db, part.seconds, user)


def _dbfs_ratio(heard_dbfs: float, left_dbfs: float) -> float:
    """The level of the fitted echo: what was heard less what the fit left."""
    explained = 10 ** (heard_dbfs / 10) - 10 ** (left_dbfs / 10)
    return 10 * math.log10(explained) if explained > 0 else -math.inf


def _dbfs(energy: float, samples: int) -> float:
    return 10 * math.log10(energy / samples / 32768**2) if energy > 0 else -math.inf


def _follow(estimate: float, measured: float, seconds: float, user: bool) -> float:
    """One step of an estimate following the upper edge of `measured`, from frames not the user's."""
    if measured < estimate:
        return estimate - min(FALL_DB_PER_S * seconds, estimate - measured)
    if not user:
        return estimate + min(RISE_DB_PER_S * seconds, measured - estimate)
    return estimate
