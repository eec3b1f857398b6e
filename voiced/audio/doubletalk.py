"""Double talk: is the user speaking while the assistant's echo fills the microphone?

AEC3's residual echo suppressor, unsure in double talk, takes the user's first words
down with the echo (seen: a whole "Stop!" at -16 dBFS over an echo 6 dB louder, left
at -90 dBFS), so the level of what the canceller leaves cannot say that the user started
talking. The spectrum of what the microphone heard can: the echo is the played audio
filtered by the room, so in each frequency band the microphone holds at most the played
audio's power times the room's gain in that band, and a voice adds power where the
played audio has little.

`DoubleTalkDetector` compares, band by band, the microphone's power with the loudest
power the reference had in the stretch its echo may come from (the reference runs in
step with the microphone, a little ahead of it: `voiced.audio.reference`), times the
band's echo gain. It learns the gains and each band's noise floor from the frames it
judges to be echo alone. What is left over, summed across the bands, is the user.
"""

from __future__ import annotations

from collections import deque

import numpy as np

BANDS = 16
LOW_HZ, HIGH_HZ = 150.0, 7000.0
"""Log-spaced bands over the voice's range."""

ECHO_WINDOW_S = 0.35
"""How far back in the reference the echo heard now may come from: the reference runs
`voiced.audio.gate.LEAD_S` ahead of the microphone, the echo path adds its latency
(and what the devices' reported latencies got wrong), the room its reverb."""

STEPS = 4
"""Reference windows per frame, a quarter frame apart: a sound that starts or stops
mid-frame spreads over every band, and where its echo stops in the middle of a
microphone frame, its reference must have been seen stopping there too."""

MARGIN_DB = 6.0
"""A band holds something the echo does not explain when it is this much over the
predicted echo (predicted from the loudest recent reference: an overestimate)."""

USER_DBFS = -42.0
"""Unexplained power, summed across the bands, from which a frame holds the user: about
where the Realtime API's VAD starts to listen at its default threshold."""

PRIOR_GAIN_DB = 10.0
"""A band's echo gain before it was measured: louder than the echo the speakers of a room
make at its microphone (over +6 dB only with the speaker next to it)."""

GAIN_MEMORY_S = 3.0
GAIN_MEASURED_S = 1.0
"""A band's echo gain is the largest of its measurements (frames where the reference was
active in the band) over its last `GAIN_MEMORY_S` of them, once it has `GAIN_MEASURED_S`.
The loudest recent reference overestimates what echoes now (and the echo of a sound
that just started has not arrived yet), so most frames measure too little: only the
frames whose echo comes from that loudest moment measure the whole gain."""

NOISE_RISE_DB_PER_S = 3.0
"""The noise floor follows each band's quietest frames: down at once, up slowly."""

CLIPPED = 32000
"""A microphone frame with samples this loud was clipped (by the converter or the sound
server): the echo in it is no longer the played audio filtered, and says nothing."""

ACTIVE_DBFS = -70.0
"""Reference power in a band from which a frame measures that band's gain."""

_EPS = 1e-12


class DoubleTalkDetector:
    """`user(heard, reference)` for each microphone frame while the assistant may be audible."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.gain = np.full(BANDS, 10 ** (PRIOR_GAIN_DB / 10))
        """Each band's echo gain: echo power over reference power."""
        self.noise = np.full(BANDS, _EPS)
        self.excess_db = -np.inf
        """The last frame's power that neither the echo nor the noise explains, dBFS."""
        self._measured = np.full((1, BANDS), np.nan)
        self._measurements = np.zeros(BANDS, dtype=np.int64)
        self._enough = 1
        self._samples = 0
        self._history: deque[np.ndarray] = deque()
        self._last = np.zeros(0, dtype=np.int16)

    def user(self, heard: bytes, reference: bytes) -> bool:
        """Whether the frame `heard` holds more than the echo of the recent `reference` (the
        reference handed to the canceller with that frame, as long) and the noise."""
        mic_pcm = np.frombuffer(heard, dtype=np.int16)
        reference_pcm = np.frombuffer(reference, dtype=np.int16)
        if len(mic_pcm) != self._samples:
            self._frame_length(len(mic_pcm))
        if len(mic_pcm) and int(np.max(np.abs(mic_pcm.astype(np.int32)))) >= CLIPPED:
            self.excess_db = -np.inf
            return False  # a clipped frame spreads the echo over every band: no verdict
        mic = self._bands(mic_pcm)
        joined = np.concatenate([self._last, reference_pcm])
        hop = len(reference_pcm) // STEPS
        self._history.append(np.max([self._bands(joined[step * hop:step * hop + self._samples])
                                     for step in range(1, STEPS + 1)], axis=0))
        self._last = reference_pcm
        played = np.max(self._history, axis=0)
        excess = mic - 10 ** (MARGIN_DB / 10) * self.gain * played - 2.0 * self.noise
        self.excess_db = 10 * float(np.log10(max(_EPS, float(np.sum(np.maximum(excess, 0.0))))))
        # Until the history covers the whole window, an echo of what came before is unexplained.
        user = self.excess_db > USER_DBFS and len(self._history) == self._history.maxlen
        self._learn(mic, played, user)
        return user

    def _frame_length(self, samples: int) -> None:
        """Set up the bands for frames of `samples` (the reference history starts over)."""
        self._samples = samples
        freqs = np.fft.rfftfreq(samples, 1 / self.rate)
        band = np.digitize(freqs, np.geomspace(LOW_HZ, HIGH_HZ, BANDS + 1)) - 1
        self._in_band = (band >= 0) & (band < BANDS)
        self._band_of = band[self._in_band]
        self._window = np.hanning(samples)
        self._scale = 2.0 / (np.sum(self._window ** 2) * samples) / 32768.0 ** 2
        self._history = deque(maxlen=max(1, round(ECHO_WINDOW_S * self.rate / samples)))

        self._last = np.zeros(samples, dtype=np.int16)
        frames_per_s = self.rate / samples
        self._measured = np.full((max(1, round(GAIN_MEMORY_S * frames_per_s)), BANDS), np.nan)
        self._measured[0] = np.where(self._measurements > 0, self.gain, np.nan)  # what was learned stays
        self._enough = max(1, round(GAIN_MEASURED_S * frames_per_s))
        self._measurements = np.where(self._measurements > 0, self._enough, 0)

    def _bands(self, pcm: np.ndarray) -> np.ndarray:
        """Power per band (1.0 is a full-scale sine's), of a frame of int16 samples."""
        spectrum = np.abs(np.fft.rfft(pcm * self._window)) ** 2 * self._scale
        return np.bincount(self._band_of, spectrum[self._in_band], minlength=BANDS)

    def _learn(self, mic: np.ndarray, played: np.ndarray, user: bool) -> None:
        rise = 10 ** (NOISE_RISE_DB_PER_S * self._samples / self.rate / 10)
        self.noise = np.minimum(mic, np.maximum(self.noise, _EPS) * rise)
        if user:
            return
        active = (played > 10 ** (ACTIVE_DBFS / 10)) & (mic > 4 * self.noise)
        if not active.any():
            return
        bands = np.flatnonzero(active)
        ratio = (mic - self.noise) / np.maximum(played, _EPS)
        self._measured[self._measurements[bands] % len(self._measured), bands] = ratio[bands]
        self._measurements[bands] += 1
        known = self._measurements >= self._enough
        if known.any():
            self.gain[known] = np.nanmax(self._measured[:, known], axis=0)
