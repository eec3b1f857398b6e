"""An energy gate that keeps the assistant's own voice, heard through the room, off the wire.

While something the speaker played may still be reaching the microphone, a mic frame
is forwarded only when it is clearly louder than that echo can be; otherwise the
caller sends silence in its place (the server's timeline keeps going). Outside
playback everything passes. The gate is pure: it is told what was audible when and
what the microphone heard when, on one clock (`time.monotonic()` seconds), and
decides; it never sees a device.

The echo's level is predicted as the loudest played chunk in a window around the mic
frame plus the echo path's gain (mic level minus played level, in dB), which the
gate learns while playback is audible. The estimate follows the upper envelope of
those measurements: up faster than down, so a speech pause does not let the next
word through, and up only slowly from frames it lets pass, which may be the user.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

SILENT_DBFS = -60.0
"""Played audio below this cannot produce an echo that matters (the quietest VAD
setting of the Realtime API listens from about -70 dBFS, and an echo is quieter
than what was played): such chunks do not count as the assistant being audible."""

TAIL_S = 0.25
"""How long after a played chunk its echo may still be in the microphone: room reverb
(a living room's RT60 is 0.3-0.6 s, but the late part is 20-30 dB down), the acoustic
path, and a latency PortAudio under-reports (the pulse plugin's figure is an estimate)."""

LEAD_S = 0.06
"""How early an echo may arrive relative to the reported latencies: over-reported
device latency and callback jitter (PortAudio's input latency figure counts whole
periods, and the input's are 40 ms by default)."""

MARGIN_DB = 10.0
"""How much louder than the predicted echo a frame must be to pass. A conservative
prediction is within a few dB of the real echo; speech over it 10 dB up is a person
talking over the assistant, not a reflection. Lower lets echo through on loud
syllables; higher makes barge-in need shouting."""

PRIOR_GAIN_DB = 0.0
"""The echo path gain assumed before anything was measured: the echo as loud as the
played signal (loud speakers, a sensitive mic). Barge-in needs a loud voice for the
first second or two of the first answer, until the estimate has come down."""

GAIN_LIMITS_DB = (-60.0, 20.0)
RISE_DB_PER_S = 30.0
"""How fast the estimate climbs towards a louder measurement from a gated frame: an echo
that got louder (volume turned up) is caught within a few hundred ms, while the first
syllables of a user talking over the assistant (gated until they clear the margin)
raise it by a dB or two, not enough to lock them out."""

PASSED_RISE_DB_PER_S = 3.0
"""A frame that passes during playback is the user or an echo louder than the estimate
(the volume went up by more than the margin): it raises the estimate only this slowly,
so a user talking over the assistant for a second costs 3 dB, and a louder echo is
still learned in a few seconds, faster where its quieter parts get gated."""

FALL_DB_PER_S = 10.0
"""How fast the estimate comes down towards quieter measurements. Those are mostly
the pauses inside speech, where the window's loudest chunk has not reached the mic;
a 0.3 s pause costs 3 dB, well inside the margin."""

ONSET_GAP_S = 0.5
ONSET_HOLD_S = 0.1
STOP_HOLD_S = 0.06
"""Played audio that starts after `ONSET_GAP_S` of silence is new to an echo canceller,
which lets the first tens of ms of its echo through (AEC3 does, after any pause); played
audio that stops mid-frame leaves a click's worth of every frequency in the frame its
echo stops in. For `ONSET_HOLD_S` after such a start, and `STOP_HOLD_S` after a stop, the
echo is judged by energy, not by the canceller's record (`EchoGate.onset`)."""


@dataclass(frozen=True)
class _Played:
    start: float
    end: float
    level_db: float


class EchoGate:
    """Decides, frame by frame, whether microphone audio is the user or the assistant's echo.

    `played()` records when audible audio left the speaker (non-silent chunks only);
    `admit()` answers for one mic frame and learns the echo path's gain from the frames
    it turns away.
    """

    def __init__(self, *, margin_db: float = MARGIN_DB, prior_gain_db: float = PRIOR_GAIN_DB,
                 tail_s: float = TAIL_S, lead_s: float = LEAD_S) -> None:
        self.margin_db = margin_db
        self.gain_db = prior_gain_db
        """The echo path's gain as estimated so far: echo level minus played level."""
        self.tail_s = tail_s
        self.lead_s = lead_s
        self._played: deque[_Played] = deque(maxlen=256)
        self.audible_until = -math.inf
        """When the last non-silent played chunk stopped sounding."""
        self.known_until = -math.inf
        """When the last played chunk, silent or not, stops sounding."""
        self._onsets: deque[tuple[float, float]] = deque(maxlen=64)

    def played(self, start: float, end: float, level_db: float) -> None:
        """Audio at `level_db` was audible from `start` to `end`."""
        self.known_until = max(self.known_until, end)
        if level_db < SILENT_DBFS:
            return
        if start - self.audible_until >= ONSET_GAP_S:
            self._onsets.append((start, start + ONSET_HOLD_S))
        self._played.append(_Played(start, end, level_db))
        self.audible_until = max(self.audible_until, end)

    def stopping(self, start: float, end: float) -> bool:
        """Whether the played audio stopped while the microphone heard from `start` to `end`
        (silence was played after it): a click's worth of every frequency may echo."""
        return start - STOP_HOLD_S <= self.audible_until <= end + self.lead_s <= self.known_until

    def onset(self, start: float, end: float) -> bool:
        """Whether the echo heard from `start` to `end` may be of audio that started after a
        silence or stopped: where an echo canceller's output is not to be trusted."""
        if self.stopping(start, end):
            return True
        while self._onsets and self._onsets[0][1] + self.tail_s < start:
            self._onsets.popleft()
        return any(first - self.lead_s <= end and start <= last + self.tail_s for first, last in self._onsets)

    def echo_possible(self, start: float, end: float) -> bool:
        """Whether the mic audio heard from `start` to `end` may hold an echo."""
        return self.audible_until + self.tail_s >= start

    def admit(self, start: float, end: float, level_db: float, heard_db: float | None = None) -> bool:
        """Whether the mic frame heard from `start` to `end` at `level_db` should be sent.

        `heard_db` is the frame's level as the microphone heard it, when `level_db` is
        what is left after echo cancellation: the echo path is learned from the former,
        the decision is made on the latter.
        """
        while self._played and self._played[0].end + self.tail_s < start:
            self._played.popleft()
        window_start, window_end = start - self.tail_s, end + self.lead_s
        played_db = max((p.level_db for p in self._played
                         if p.end >= window_start and p.start <= window_end), default=None)
        if played_db is None:
            return True
        passed = level_db > played_db + self.gain_db + self.margin_db
        self._learn((level_db if heard_db is None else heard_db) - played_db, end - start, passed)
        return passed

    def _learn(self, measured_db: float, seconds: float, passed: bool) -> None:
        if measured_db > self.gain_db:
            rate = PASSED_RISE_DB_PER_S if passed else RISE_DB_PER_S
            self.gain_db += min(rate * seconds, measured_db - self.gain_db)
        else:
            self.gain_db -= min(FALL_DB_PER_S * seconds, self.gain_db - measured_db)
        low, high = GAIN_LIMITS_DB
        self.gain_db = min(high, max(low, self.gain_db))


ERLE_CONVERGED_DB = 20.0
"""The canceller's echo return loss enhancement (how much of the echo it removes) from
which its own judgement is trusted; below it, `EchoGate`'s energy rule decides. Where
the played audio is new to the canceller (`EchoGate.onset`), the energy rule decides too."""

ERLE_DROP_DB = 12.0
"""A frame the canceller removed this much less of than it removes of the echo holds
something the played audio does not explain: the user, from their first syllable and
at any level the echo leaves room for (at an echo 6 dB louder than the voice the
canceller removes 1-7 dB of the mix, against 25-50 dB of the echo alone)."""

ERLE_CERTAIN_DB = 20.0
"""A frame the canceller removed this much less of than usual is the user beyond doubt:
it is sent as the microphone heard it, because AEC3's suppressor, unsure in double
talk, takes 15-25 dB off the user's first syllables along with the echo, and a voice
6 dB under the echo would otherwise reach the server too quiet to start a turn."""

CERTAIN_ABOVE_DBFS = -45.0
"""... provided what the canceller left is loud (a quiet echo ends in the canceller's
floor, 50-60 dB down, whatever it removed) and the frame before was as clear: a lone
frame where the canceller stumbled must not send the echo whole."""

ERLE_MAX_DB = 45.0
"""Measurements are capped here: a canceller that leaves digital silence (a loopback
without noise) would otherwise make every later imperfection look like a voice."""

VERDICT_ABOVE_DBFS = -30.0
"""The canceller's record speaks only for frames this loud: AEC3 was seen to leave a quiet
echo (-35 to -45 dBFS) all but untouched for a second at a time, which its record would
call a voice; under a quiet echo the energy gate decides, as it can there."""

ERLE_LEARN_ABOVE_DBFS = -50.0
"""Only frames this loud teach the estimate: quieter ones end in the noise floor, which
caps what any canceller can remove."""

ERLE_FALL_DB_PER_S = 20.0
ERLE_RISE_DB_PER_S = 15.0
"""The estimate follows the lower edge of what the canceller achieves on the echo: down
fast (a weak moment of the canceller must not let echo through), up more slowly (from
a cold start it trusts the canceller after about 1.3 s of loud echo: AEC3 cancels much
of it within 0.3 s, all of its band only later)."""

ERLE_PASSED_FALL_DB_PER_S = 3.0
"""Frames it lets pass are the user or an echo the canceller lost: they pull the estimate
down slowly, so that an echo path that changed is relearned in seconds."""


class ResidualGate:
    """Decides behind the echo canceller, from the canceller's own performance.

    The canceller's echo return loss enhancement (ERLE: the mic level minus the level
    left after cancellation) is estimated on the frames that hold only echo; a frame
    whose ERLE falls well short of that holds the user.
    """

    def __init__(self) -> None:
        self.erle_db = 0.0
        self._clear_before = False

    @property
    def converged(self) -> bool:
        return self.erle_db >= ERLE_CONVERGED_DB

    def decides(self, heard_db: float) -> bool:
        """Whether its verdict, rather than the energy gate's, counts for a frame heard at `heard_db`."""
        return self.converged and heard_db > VERDICT_ABOVE_DBFS

    def admit(self, heard_db: float, residual_db: float) -> bool:
        """Whether a frame heard at `heard_db` and left at `residual_db` holds the user. Never
        when more is left than was heard: that is the canceller's own delay, seen as an echo
        dies away (a voice in the frame would make it louder going in, not coming out)."""
        return 0.0 <= _erle(heard_db, residual_db) < self.erle_db - ERLE_DROP_DB

    def certain(self, heard_db: float, residual_db: float) -> bool:
        """Whether that frame, the next in line, is the user beyond doubt (`ERLE_CERTAIN_DB`)."""
        clear = (residual_db > CERTAIN_ABOVE_DBFS
                 and _erle(heard_db, residual_db) < self.erle_db - ERLE_CERTAIN_DB)
        certain, self._clear_before = clear and self._clear_before, clear
        return certain

    def learn(self, heard_db: float, residual_db: float, seconds: float, passed: bool) -> None:
        """Follow the canceller on a frame heard while the assistant was audible."""
        if heard_db < ERLE_LEARN_ABOVE_DBFS:
            return
        measured = _erle(heard_db, residual_db)
        if measured < self.erle_db:
            rate = ERLE_PASSED_FALL_DB_PER_S if passed else ERLE_FALL_DB_PER_S
            self.erle_db -= min(rate * seconds, self.erle_db - measured)
        elif not passed:
            self.erle_db += min(ERLE_RISE_DB_PER_S * seconds, measured - self.erle_db)


def _erle(heard_db: float, residual_db: float) -> float:
    return min(ERLE_MAX_DB, heard_db - residual_db)
