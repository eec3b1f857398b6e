"""The microphone and the speaker together: opening, running, watching and reopening them.

PortAudio calls can take tens of milliseconds (the ALSA pulse plugin connects to the
sound server), so everything here that touches PortAudio runs in a worker thread, holding
PortAudio's lock (`voiced.audio.portaudio`): a `devices` scan may run at the same time.

The input stream runs all the time (with longer periods in standby: `voiced.audio.streams`).
The output stream runs while there is something to play (with `echo = "aec"`, while
listening; the canceller is started when standby first ends): idle, it costs about 2.4 %
of a core at its 5 ms periods through the pulse plugin, for silence. With 5 ms periods a
first delta waits at most 5 ms for a callback and a stop is heard after a period.
`supervise()` starts it when audio is queued (~0.5 ms, the first callback ~0.5 ms later)
and stops it after `OUTPUT_IDLE_S` of silence (a stop drops the ~60 ms the device holds).

`supervise()` also watches the devices. An unplugged device shows up in one of two ways:
PortAudio's stream stops calling back (an ALSA device that went away, a stream the sound
server killed), or, through the pulse plugin, nothing happens at all: the sound server
moves the stream to a fallback device (`voiced.audio.pulse` asks it whether the wanted
sink and source still exist). Either way `health` says "degraded: ..." and, when the
device is back, both streams are reopened on a new PortAudio instance (a new device
scan); the playback queue, the played counts and the microphone channel live on.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pyaudio
import trio

from voiced.audio.capture import QUIET_BATCH_MS, STANDBY_QUIET_BATCH_MS, Capture
from voiced.audio.devices import Device, DeviceError, Stream, choose_device, open_stream, scan_for
from voiced.audio.echo import EchoControl, mode_for
from voiced.audio.levels import voice_floor_dbfs
from voiced.audio.playback import Playback
from voiced.audio.portaudio import name_streams, serialised
from voiced.audio.pulse import PulseUnavailable, PulseWatch, watch_for
from voiced.audio.reference import PlayedAudio
from voiced.audio.streams import available_devices as available_devices
from voiced.audio.streams import close_stream, replace_input
from voiced.config import AudioConfig

log = logging.getLogger("voiced.audio")

OUTPUT_PERIOD_MS = 5
STANDBY_PERIOD_MS = 200
"""The input period in standby: PortAudio and trio wake up 5 times a second, not 25."""
OUTPUT_IDLE_S = 1.5
"""Silence after which the output stream stops, except with echo cancellation outside
standby: each start of the stream sounds at a latency of its own."""
CHECK_S = 0.25
"""How often `supervise()` looks at the streams when nothing wakes it: while the speaker
plays (it stops `OUTPUT_IDLE_S` after the last sound) or a device is in trouble."""
IDLE_CHECK_S = 1.0
"""How often otherwise. Only the microphone can stall then, noticed within `STALL_S +
IDLE_CHECK_S`; each look wakes trio, and wake-ups are most of what listening costs."""
STALL_S = 1.0
"""A running stream whose callback did not come for this long is stuck."""
RECOVERED_AFTER_S = 1.5
"""Reopened streams that ran this long without trouble (longer than `STALL_S`) are well."""
WATCH_EVERY_S = 1.0
"""How often the sound server is asked whether the devices are there (~0.05 ms of CPU)."""
STANDBY_CHECK_S = 5.0
"""Both of those in standby, where a lost device is noticed within seconds: nobody waits."""
REOPEN_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
AUDIO_THREAD_NICE = -10
"""With 10 ms of device buffer a callback thread that waits its turn behind other processes
leaves a gap; raised where the system allows it (CAP_SYS_NICE or RLIMIT_NICE)."""

ProblemCallback = Callable[[str, str], None]
"""`(code, message)`: "device_lost" or "device_back", and what happened in words."""


class Audio:
    """Owns the PyAudio instance and one input and one output stream."""

    def __init__(self, config: AudioConfig) -> None:
        self.config = config
        self._pa: pyaudio.PyAudio | None = None
        self._in_stream: Stream | None = None
        self._out_stream: Stream | None = None
        self._output_running = False
        self._out_rate = self._in_rate = 0
        self.input: Device | None = None
        self.output: Device | None = None
        self.capture: Capture | None = None
        self.playback: Playback | None = None
        self.echo: EchoControl | None = None
        self.output_latency_ms = self._input_latency_s = 0.0
        self.health = "ok"
        """"ok", or "degraded: <what>" while a device is missing or stuck."""
        self.reopened = 0
        self._watch: PulseWatch | None = None
        self._wake: trio.Event | None = None
        self._output_thread, self._prompt = 0, True
        self._in_number, self._standby = 0, False  # capture tells input streams apart by number
        self._in_period_ms = self._want_period_ms = config.chunk_ms

    async def open(self, on_drained: Callable[[], None],
                   on_item_started: Callable[[str, float, float], None]) -> None:
        """Choose both devices, start the microphone; raises DeviceError with a readable message.
        The callbacks run in trio: `on_drained()` when playback ran out of audio,
        `on_item_started(item_id, handed_at, delay_s)` when an item's first sample went to
        the device. The speaker plays once `supervise()` runs."""
        token = trio.lowlevel.current_trio_token()
        await trio.to_thread.run_sync(self._open, token, on_drained, on_item_started)
        self._wake = trio.Event()
        assert self.playback is not None
        self.playback.on_queued = self._wake.set

    def set_vad_threshold(self, threshold: float) -> None:
        """`[audio] vad_threshold` changed: what counts as quiet enough to wait changes too."""
        self.config = self.config.model_copy(update={"vad_threshold": threshold})
        if self.capture is not None:
            self.capture.set_voice_floor(voice_floor_dbfs(threshold))

    def deliver_promptly(self, prompt: bool) -> None:
        """Every microphone period at once (someone is speaking or being answered), or quiet
        ones in batches while nothing is going on (see `voiced.audio.capture`)."""
        self._prompt = prompt
        if self.capture is not None:
            self.capture.prompt = prompt

    def standby(self, standby: bool) -> None:
        """Read the microphone in `STANDBY_PERIOD_MS` periods (cheap) or in `chunk_ms` ones."""
        self._standby = standby
        self._want_period_ms = STANDBY_PERIOD_MS if standby else self.config.chunk_ms
        if self.capture is not None:
            self.capture.quiet_batch_ms = STANDBY_QUIET_BATCH_MS if standby else QUIET_BATCH_MS
        if self._wake is not None:
            self._wake.set()

    def _open(self, token: trio.lowlevel.TrioToken, on_drained: Callable[[], None],
              on_item_started: Callable[[str, float, float], None]) -> None:
        def in_trio(callback: Callable[..., None]) -> Callable[..., None]:
            def call_soon(*args: object) -> None:
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(callback, *args)
            return call_soon

        try:
            self._open_streams()
            assert self._out_stream is not None and self._in_stream is not None
            out_rate, in_rate = self._out_rate, self._in_rate
            self.playback = Playback(out_rate, on_drained=in_trio(on_drained),
                                     on_item_started=in_trio(on_item_started))
            self.playback.default_delay_s = self.output_latency_ms / 1000
            floor = voice_floor_dbfs(self.config.vad_threshold)
            self.capture = Capture(in_rate, token, voice_floor_dbfs=floor)
            self.capture.prompt = self._prompt
            self._control_echo(out_rate)
            self._start_input()
        except BaseException:
            self._close()
            raise
        assert self.input is not None and self.output is not None
        self._watch = watch_for(self.input.name, self.output.name)
        log.info("audio: input %r at %d Hz, output %r at %d Hz (%.0f ms output latency), echo %s",
                 self.input.name, in_rate, self.output.name, out_rate, self.output_latency_ms,
                 self.echo.mode if self.echo else "off")

    @serialised
    def _open_streams(self) -> None:
        """A new PortAudio instance (a fresh device scan; none for two virtual devices) and both
        streams, not started."""
        name_streams()
        self._pa, devices = scan_for(self.config.input_device, self.config.output_device)
        self.input = choose_device(devices, self.config.input_device, "input", previous=self.input)
        self.output = choose_device(devices, self.config.output_device, "output", previous=self.output)
        rate = self.config.sample_rate
        self._out_stream, self._out_rate = open_stream(self._pa, self.output, "output", rate=rate,
                                                       chunk_ms=OUTPUT_PERIOD_MS,
                                                       callback=self._output_callback)
        self._in_period_ms = self._want_period_ms
        callback = functools.partial(self._input_callback, stream=self._in_number)
        self._in_stream, self._in_rate = open_stream(self._pa, self.input, "input", rate=rate,
                                                     chunk_ms=self._in_period_ms, callback=callback)
        self.output_latency_ms = self._out_stream.get_output_latency() * 1000
        self._input_latency_s = self._in_stream.get_input_latency()

    @serialised
    def _start_input(self) -> None:
        assert self._in_stream is not None
        self._in_stream.start_stream()

    def _control_echo(self, out_rate: int) -> None:
        """Put echo control between the streams: the output callback taps, capture cleans."""
        assert self.playback is not None and self.capture is not None
        self.echo = EchoControl(mode_for(self.config), PlayedAudio(out_rate, OUTPUT_PERIOD_MS),
                                input_latency_s=self._input_latency_s,
                                output_latency_s=self.output_latency_ms / 1000)
        if self.echo.mode != "off":
            self.playback.taps.append(self.echo.played.push)
            self.capture.echo = self.echo

    def _output_callback(self, *args: Any) -> tuple[bytes, int]:
        assert self.playback is not None
        if (thread := threading.get_native_id()) != self._output_thread:  # a new one on each start
            self._output_thread = thread
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, thread, AUDIO_THREAD_NICE)
        return self.playback.callback(*args)

    def _input_callback(self, *args: Any, stream: int) -> tuple[None, int]:
        if self.capture is None:  # the stream started a moment before Capture existed
            return None, pyaudio.paContinue
        return self.capture.callback(*args, stream=stream)

    def _switch_input(self, period_ms: int) -> None:
        """Replace the input stream by one with `period_ms` periods (from `supervise()`)."""
        assert self.capture and self.input and self._in_stream
        number = self._in_number + 1
        callback = functools.partial(self._input_callback, stream=number)
        self._in_stream, self._in_rate = replace_input(
            self._pa, self.input, self._in_stream, rate=self._in_rate, period_ms=period_ms,
            capture=self.capture, number=number, callback=callback)
        self._in_number, self._in_period_ms = number, period_ms

    # -- running -------------------------------------------------------------------

    async def supervise(self, on_problem: ProblemCallback) -> None:
        """Run the speaker on demand and keep both devices working, until cancelled.
        A device that goes away makes `health` "degraded: ..." and calls
        `on_problem("device_lost", message)` once; when it is back the streams are
        reopened and `on_problem("device_back", message)` is called. Call after `open()`."""
        assert self._wake is not None and self.playback is not None
        next_watch = retry_at = reopened_at = 0.0
        attempts, needs_reopen = 0, False
        gone: list[str] = []
        while True:
            self._wake = trio.Event()
            self.playback.on_queued = self._wake.set
            now = time.monotonic()
            trouble = await self._follow_playback(now)
            if self._watch is not None and now >= next_watch:
                next_watch = now + (STANDBY_CHECK_S if self._standby else WATCH_EVERY_S)
                try:
                    gone = await trio.to_thread.run_sync(self._watch.missing)
                except PulseUnavailable as exc:
                    gone = [f"sound server ({exc})"]
            if self._in_period_ms != self._want_period_ms and not needs_reopen:
                try:
                    await trio.to_thread.run_sync(self._switch_input, self._want_period_ms)
                except (DeviceError, OSError) as exc:
                    trouble.append(f"input ({exc})")
            if self.echo is not None and self.echo.wants_canceller and not self._standby:  # ~0.5 s
                self.echo.attach(await trio.to_thread.run_sync(self.echo.new_canceller))
            trouble += self._stalled(time.monotonic())
            if problems := gone + trouble:
                self._degrade("; ".join(problems), on_problem)
                needs_reopen = True
            # A stuck stream is reopened at once (on a fallback if need be); one the sound
            # server moved away is reopened when its device is back.
            if needs_reopen and (trouble or not gone) and now >= retry_at:
                attempts += 1
                retry_at = now + REOPEN_BACKOFF_S[min(attempts, len(REOPEN_BACKOFF_S)) - 1]
                try:
                    await trio.to_thread.run_sync(self._reopen)
                except (DeviceError, OSError) as exc:
                    log.debug("reopening the audio devices failed (again in %.1f s): %s",
                              retry_at - now, exc)
                else:
                    needs_reopen, reopened_at = False, time.monotonic()
            elif (self.health != "ok" and not problems and not needs_reopen
                  and time.monotonic() - reopened_at > RECOVERED_AFTER_S):
                attempts = 0
                self._recover(on_problem)
            idle_check = STANDBY_CHECK_S if self._standby else IDLE_CHECK_S
            with trio.move_on_after(CHECK_S if self._output_running or self.health != "ok" else idle_check):
                await self._wake.wait()

    async def _follow_playback(self, now: float) -> list[str]:
        """Start the output stream when audio waits, stop it after a silence; what failed."""
        assert self.playback is not None
        idle = self.playback.idle_for(now)
        canceller = self.echo is not None and self.echo.mode == "aec"
        try:
            if not self._output_running and idle == 0.0:
                await trio.to_thread.run_sync(self._start_output)
            elif self._output_running and idle > OUTPUT_IDLE_S and (self._standby or not canceller):
                await trio.to_thread.run_sync(self._stop_output)
        except OSError as exc:
            return [f"output ({exc})"]
        return []

    @serialised
    def _start_output(self) -> None:
        assert self.playback is not None
        if self._out_stream is None:
            raise OSError("no output stream")
        self.playback.last_callback_at = time.monotonic()
        self._out_stream.start_stream()
        self._output_running = True

    @serialised
    def _stop_output(self) -> None:
        assert self.playback is not None and self._out_stream is not None
        self.playback.hold(True)  # audio queued from now on waits for the next start
        try:
            self._out_stream.stop_stream()
        finally:
            self._output_running = False
            self.playback.hold(False)

    def _stalled(self, now: float) -> list[str]:
        assert self.playback is not None and self.capture is not None
        stalled = []
        if now - self.capture.last_callback_at > STALL_S and self.input is not None:
            stalled.append(f"input {self.input.name!r} stopped delivering")
        if self._output_running and now - self.playback.last_callback_at > STALL_S and self.output:
            stalled.append(f"output {self.output.name!r} stopped playing")
        return stalled

    def _degrade(self, what: str, on_problem: ProblemCallback) -> None:
        health = f"degraded: {what}"
        if self.health == "ok":
            log.warning("audio %s", health)
            on_problem("device_lost", what)
        elif health != self.health:
            log.debug("audio still %s", health)
        self.health = health

    def _recover(self, on_problem: ProblemCallback) -> None:
        if self.health != "ok":
            assert self.input is not None and self.output is not None
            what = (f"reopened input {self.input.name!r} and output {self.output.name!r}"
                    f" (was {self.health.removeprefix('degraded: ')})")
            log.warning("audio back: %s", what)
            self.health = "ok"
            on_problem("device_back", what)

    @serialised
    def _reopen(self) -> None:
        """Release PortAudio and open both devices again on a fresh scan (worker thread);
        nothing else touches PortAudio in between."""
        assert self.playback is not None and self.capture is not None
        self._release()
        self._in_number += 1
        try:
            self._open_streams()
            assert self._out_stream is not None and self._in_stream is not None
            self.playback.retune(self._out_rate)
            self.playback.default_delay_s = self.output_latency_ms / 1000
            self.capture.retune(self._in_rate, self._in_number)
            self.capture.last_callback_at = time.monotonic()
            self._start_input()
        except BaseException:
            self._release()
            raise
        self.reopened += 1

    # -- closing -------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the streams and release PortAudio; safe to call twice."""
        await trio.to_thread.run_sync(self._close)
        if self.capture is not None:
            self.capture.close()  # in trio: channels are not thread-safe

    def _close(self) -> None:
        self._release()
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    @serialised
    def _release(self) -> None:
        for stream in (self._out_stream, self._in_stream):
            close_stream(stream)
        self._out_stream = self._in_stream = None
        self._output_running = False
        if self._pa is not None:
            self._pa.terminate()
            self._pa = None

    def describe(self) -> dict[str, Any]:
        """What `status` shows about the devices."""
        def one(device: Device | None, rate: int | None) -> dict[str, Any] | None:
            return None if device is None else {"index": device.index, "name": device.name, "rate": rate}
        return {
            "input": one(self.input, self.capture.rate if self.capture else None),
            "output": one(self.output, self.playback.rate if self.playback else None),
            "health": self.health,
            "output_running": self._output_running,
            "input_period_ms": self._in_period_ms,
            "reopened": self.reopened,
            "output_latency_ms": round(self.output_latency_ms, 1),
            "capture_dropped": self.capture.dropped if self.capture else 0,
            "capture_batches": self.capture.batches if self.capture else 0,
            "playback_queued_ms": round(self.playback.queued_ms) if self.playback else 0,
            "playback_underruns": self.playback.underruns if self.playback else 0,
            "echo": self.echo.describe() if self.echo else EchoControl.closed(mode_for(self.config)),
        }
