"""Capturing the microphone into trio without ever blocking the audio thread.

The PortAudio input callback copies each period and hands it to the trio thread with
`run_sync_soon`, which never waits. On the trio side a bounded memory channel holds the
frames; when the consumer falls behind, new frames are dropped and counted rather than
held up in the audio thread.

Waking the trio thread is most of what listening costs, so while nothing is going on
(nobody is speaking or being answered, and the room is quiet or only steadily noisy)
periods travel in batches of `QUIET_BATCH_MS` (`STANDBY_QUIET_BATCH_MS` in standby).
Anything that may be a voice (near a voice's level and above the room's noise) goes at
once, together with what waited before it, and so does everything while the daemon
says it is `prompt` and while the echo canceller runs (it needs the speaker's reference
and the microphone in step).
Every period keeps its own capture time for the echo gate, and a frame says when its
first sample came in, so the daemon can tell what was captured before a resume; only
quiet audio is late, by at most a batch.

In standby the input stream is replaced by one with longer periods, and back on waking
(`voiced.audio.duplex`). For a moment both run: each stream's periods come to the
callback with the stream's number, and the two are spliced where the new one's first
period begins, so the audio stays continuous and no word of the pre-roll is lost.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import pyaudio
import trio

from voiced.audio.echo import EchoControl
from voiced.audio.levels import level_dbfs
from voiced.audio.resample import Resampler
from voiced.pcm import WIRE_RATE, pcm_ms

Period = tuple[bytes, float]
"""A period's PCM16 samples at the device's rate and `time.monotonic()` of its last sample."""

log = logging.getLogger("voiced.audio")

QUEUE_FRAMES = 50
"""Frames the trio side may fall behind by: two seconds of 40 ms periods (longer while
they are quiet batches). Enough to ride out a busy moment, small enough to stay live."""

QUIET_BATCH_MS = 200
"""How much quiet audio may wait for company: the most that quiet audio is late by."""

STANDBY_QUIET_BATCH_MS = 600
"""The same in standby, where nothing is sent and the ear needs at once only what may be
a voice (a wake word is not spoken that softly)."""

LOUD_HANGOVER_S = 1.0
"""After a period that may be a voice, every period goes at once for this long: speech
has quiet gaps, and the server should hear the end of a phrase without delay."""

QUIET_MARGIN_DB = 10.0
"""Periods more than this below `[audio] vad_threshold`'s level may wait: a soft start
of speech is not mistaken for quiet."""

NOISE_MARGIN_DB = 6.0
"""In a room noisier than that, periods within this of the noise floor may wait too:
a fan or a hum is not a voice, and a voice stands out of it."""

NOISE_RISE_DB_PER_S = 3.0
"""The noise floor follows quieter periods at once and louder ones this slowly, so a fan
that starts is learned in seconds while a few seconds of speech barely move it."""

NOISE_FLOOR_MIN_DBFS = -70.0
"""Where the noise floor starts and how low it may go (digital silence would take it to
minus infinity, from where it could never rise)."""


@dataclass(frozen=True)
class MicFrame:
    """Microphone audio at the wire's rate: one period, or a batch of quiet ones."""

    pcm: bytes
    started_at: float
    """When its first sample came in: the callback time of its first period less that
    period's length (`time.monotonic()`, late by the device's input latency)."""
    captured_at: float
    """`time.monotonic()` of the callback that brought its last period."""

    def since(self, moment: float) -> MicFrame:
        """The part of this frame captured from `moment` on (all of it, or nothing)."""
        if moment <= self.started_at:
            return self
        skip = min(len(self.pcm) // 2, round((moment - self.started_at) * WIRE_RATE))
        return replace(self, pcm=self.pcm[skip * 2:], started_at=self.started_at + skip / WIRE_RATE)


class Capture:
    """One input stream delivering `MicFrame`s into a bounded trio channel.

    `callback` runs in PortAudio's thread and owns the periods waiting to be delivered;
    everything else runs in the trio thread, except `retune`, which runs while the
    stream is closed, and `switch_to`/`hand_over`, which run in the thread that replaces it.
    Two streams' callbacks may run at once while one replaces the other: the callback's
    work is done under a lock.
    """

    def __init__(self, device_rate: int, trio_token: trio.lowlevel.TrioToken, *,
                 voice_floor_dbfs: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = device_rate
        self._clock = clock
        self._resample = Resampler(device_rate, WIRE_RATE)
        self._token = trio_token
        self._send, self.frames = trio.open_memory_channel[MicFrame](QUEUE_FRAMES)
        self.overruns = 0
        self.dropped = 0
        self.echo: EchoControl | None = None
        """Takes the assistant's echo out of each frame before it is queued."""
        self.last_callback_at = time.monotonic()
        """`time.monotonic()` of the latest callback: when it stops coming, the device is stuck."""
        self.prompt = True
        """Deliver every period at once (set from the trio thread; read by the callback)."""
        self.quiet_batch_ms = QUIET_BATCH_MS
        """How long quiet periods may wait (set from the trio thread; read by the callback)."""
        self.quiet_below_dbfs = voice_floor_dbfs - QUIET_MARGIN_DB
        self.noise_dbfs = NOISE_FLOOR_MIN_DBFS
        """The room's noise floor, as the quietest recent periods measure it."""
        self.batches = 0
        """Deliveries to the trio thread (fewer than periods while it is quiet)."""
        self._waiting: list[Period] = []
        self._waiting_frames = 0
        self._loud_until = -1.0
        self._lock = threading.Lock()
        self._stream = 0
        """The number of the input stream whose periods are taken."""
        self._next: int | None = None
        """The stream replacing it, while both run."""
        self._splice_at: float | None = None
        """Where the next stream takes over: when its first period began."""
        self._held: list[Period] = []
        """The next stream's periods, until the running one reaches the splice."""
        self._heard_until = -math.inf
        """When the last sample taken was captured."""
        self._trim_next = False
        """The running stream was handed over before it spoke: cut its first period."""
        self.switched = threading.Event()
        """Set when the next stream has taken over."""

    def set_voice_floor(self, voice_floor_dbfs: float) -> None:
        """`[audio] vad_threshold` changed."""
        self.quiet_below_dbfs = voice_floor_dbfs - QUIET_MARGIN_DB

    def retune(self, device_rate: int, stream: int = 0) -> None:
        """The device was reopened as input stream number `stream`, maybe at another rate
        (call while no stream runs)."""
        self._waiting, self._waiting_frames = [], 0  # quiet periods of the stream that is gone
        self._stream, self._next, self._splice_at, self._held = stream, None, None, []
        self._heard_until, self._trim_next = -math.inf, False
        if device_rate != self.rate:
            self.rate = device_rate
            self._resample = Resampler(device_rate, WIRE_RATE)

    def switch_to(self, stream: int) -> None:
        """Input stream number `stream`, at the same rate, is about to start beside the running
        one: splice it in when its first period comes (call before starting it)."""
        with self._lock:
            self._next, self._splice_at, self._held = stream, None, []
            self.switched.clear()

    def hand_over(self) -> None:
        """Take the next stream's periods from now on, though the running one did not reach
        the splice (it stalled): what is missing in between is lost."""
        with self._lock:
            if self._next is not None:
                periods = self._take_over()
                self._trim_next = not periods  # its first period may go back over what was taken
                if periods:
                    self._pass_on(periods, self._clock())

    def callback(self, in_data: bytes | None, frame_count: int, _time: dict, status: int, *,
                 stream: int = 0) -> tuple[None, int]:
        """PortAudio's input callback for input stream number `stream`: pass the period on
        (or let a quiet one wait), never block."""
        now = self.last_callback_at = self._clock()
        if status & pyaudio.paInputOverflow:
            self.overruns += 1
        if not in_data:
            return None, pyaudio.paContinue
        with self._lock:
            periods = self._splice(stream, in_data, now)
            if periods and not self._pass_on(periods, now):
                return None, pyaudio.paComplete
        return None, pyaudio.paContinue

    def _pass_on(self, periods: list[Period], now: float) -> bool:
        """Queue `periods` and send what waits to trio, or let quiet ones wait; False once
        trio has finished."""
        for data, captured_at in periods:
            self._waiting.append((data, captured_at))
            self._waiting_frames += len(data) // 2
        if self.prompt or self._cancelling_echo():
            go = True  # the noise floor is not followed meanwhile: speech would raise it
        else:
            loud = [self._may_be_voice(data, len(data) // 2, now) for data, _ in periods]
            go = loud[-1] or self._waiting_frames * 1000 >= self.quiet_batch_ms * self.rate
        if go:
            waiting, self._waiting, self._waiting_frames = self._waiting, [], 0
            try:
                self._token.run_sync_soon(self._deliver, waiting, self._resample)
            except trio.RunFinishedError:
                return False
        return True

    def _splice(self, stream: int, data: bytes, end: float) -> list[Period]:
        """What of this period to take: all of it from the running stream, none from one
        replaced; across a switch, the running stream's up to the splice, the next one's
        from there."""
        if stream == self._stream:
            if self._splice_at is None or end < self._splice_at:
                if self._trim_next:  # handed over before it spoke: its first period overlaps
                    self._trim_next, data = False, self._after(data, end, self._heard_until)
                self._heard_until = end
                return [(data, end)] if data else []
            periods = [(kept, self._splice_at)] if (kept := self._before(data, end, self._splice_at)) else []
            self._heard_until = self._splice_at
            return periods + self._take_over()
        if stream != self._next:
            return []  # a stream that was replaced, still stopping
        self._held.append((data, end))
        if self._splice_at is None:
            self._splice_at = end - len(data) / 2 / self.rate
        return self._take_over() if self._heard_until >= self._splice_at else []

    def _take_over(self) -> list[Period]:
        """The next stream runs from now on; its held periods, from where the last one ended."""
        assert self._next is not None
        self._stream, self._next, self._splice_at = self._next, None, None
        periods = []
        for data, end in self._held:
            if kept := self._after(data, end, self._heard_until):
                periods.append((kept, end))
                self._heard_until = end
        self._held = []
        self.switched.set()
        return periods

    def _before(self, data: bytes, end: float, moment: float) -> bytes:
        """The part of a period (ending at `end`) captured before `moment`."""
        frames = len(data) // 2
        keep = min(frames, max(0, frames - round((end - moment) * self.rate)))
        return data[:keep * 2]

    def _after(self, data: bytes, end: float, moment: float) -> bytes:
        """The part of a period (ending at `end`) captured from `moment` on (all of it
        when nothing was taken before: `moment` is minus infinity)."""
        frames = len(data) // 2
        late = (end - moment) * self.rate
        skip = 0 if late >= frames else frames - max(0, round(late))
        return data[skip * 2:]

    def _cancelling_echo(self) -> bool:
        """The canceller must get the played reference and the microphone in step."""
        return self.echo is not None and self.echo.aec_active

    def _may_be_voice(self, data: bytes, frame_count: int, now: float) -> bool:
        """Whether this period, or one less than `LOUD_HANGOVER_S` ago, may be a voice:
        near a voice's level and out of the room's noise. Follows the noise floor."""
        level = level_dbfs(data)
        risen = self.noise_dbfs + NOISE_RISE_DB_PER_S * frame_count / self.rate
        self.noise_dbfs = max(min(level, risen), NOISE_FLOOR_MIN_DBFS)
        if level >= max(self.quiet_below_dbfs, self.noise_dbfs + NOISE_MARGIN_DB):
            self._loud_until = now + LOUD_HANGOVER_S
        return now < self._loud_until

    def _deliver(self, periods: list[Period], resample: Resampler) -> None:
        """In trio: clean the periods (each with its own capture time) and queue them as one frame.

        `resample` is the one of the stream they came from: a reopened device may have
        another rate.
        """
        self.batches += 1
        cleaned = []
        for data, captured_at in periods:
            pcm = resample(data)
            if self.echo is not None:
                pcm = self.echo.process(pcm, captured_at)
            cleaned.append(pcm)
        pcm = b"".join(cleaned)
        if not pcm:
            return
        first, first_at = periods[0]
        started_at = first_at - pcm_ms(len(first), resample.from_rate) / 1000
        ended_at = periods[-1][1]
        if self.echo is not None:  # it may hold audio back, or hand over some it held
            ended_at -= self.echo.held_s
            started_at = ended_at - pcm_ms(len(pcm)) / 1000
        try:
            self._send.send_nowait(MicFrame(pcm, started_at, ended_at))
        except trio.WouldBlock:
            self.dropped += 1
        except trio.ClosedResourceError:
            pass  # shutting down: a delivery was still on its way

    def close(self) -> None:
        """No more frames (call in the trio thread)."""
        self._send.close()
