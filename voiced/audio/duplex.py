"""The microphone and the speaker together: opening, describing and closing them.

PortAudio calls can take tens of milliseconds (the ALSA pulse plugin connects to the
sound server), so everything here that touches PortAudio runs in a worker thread.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import pyaudio
import trio

from voiced.audio.capture import Capture
from voiced.audio.devices import Device, choose_device, list_devices, open_stream
from voiced.audio.echo import EchoControl
from voiced.audio.playback import Playback
from voiced.audio.reference import PlayedAudio
from voiced.config import AudioConfig

log = logging.getLogger("voiced.audio")


class Audio:
    """Owns the PyAudio instance and one input and one output stream."""

    def __init__(self, config: AudioConfig) -> None:
        self.config = config
        self._pa: pyaudio.PyAudio | None = None
        self._streams: list[pyaudio.Stream] = []
        self.input: Device | None = None
        self.output: Device | None = None
        self.capture: Capture | None = None
        self.playback: Playback | None = None
        self.echo: EchoControl | None = None
        self.output_latency_ms = 0.0

    async def open(self, on_drained: Callable[[], None],
                   on_item_started: Callable[[str, float, float], None]) -> None:
        """Choose and start both devices; raises DeviceError with a readable message.

        The callbacks run in trio: `on_drained()` when playback ran out of audio,
        `on_item_started(item_id, handed_at, delay_s)` when an item's first sample went
        to the device.
        """
        token = trio.lowlevel.current_trio_token()
        await trio.to_thread.run_sync(self._open, token, on_drained, on_item_started)

    def _open(self, token: trio.lowlevel.TrioToken, on_drained: Callable[[], None],
              on_item_started: Callable[[str, float, float], None]) -> None:
        self._pa = pyaudio.PyAudio()
        try:
            devices = list_devices(self._pa)
            self.input = choose_device(devices, self.config.input_device, "input")
            self.output = choose_device(devices, self.config.output_device, "output")
            chunk_ms, rate = self.config.chunk_ms, self.config.sample_rate

            def in_trio(callback: Callable[..., None]) -> Callable[..., None]:
                def call_soon(*args: object) -> None:
                    with contextlib.suppress(trio.RunFinishedError):
                        token.run_sync_soon(callback, *args)
                return call_soon

            out_stream, out_rate = open_stream(self._pa, self.output, "output", rate=rate,
                                               chunk_ms=chunk_ms, callback=self._output_callback)
            self.playback = Playback(out_rate, chunk_ms, on_drained=in_trio(on_drained),
                                     on_item_started=in_trio(on_item_started))
            self._streams.append(out_stream)
            in_stream, in_rate = open_stream(self._pa, self.input, "input", rate=rate,
                                             chunk_ms=chunk_ms, callback=self._input_callback)
            self.capture = Capture(in_rate, token)
            self._streams.append(in_stream)
            self.output_latency_ms = out_stream.get_output_latency() * 1000
            self.playback.default_delay_s = out_stream.get_output_latency()
            self._control_echo(out_stream, out_rate, in_stream, chunk_ms)
            for stream in self._streams:
                stream.start_stream()
        except BaseException:
            self._close()
            raise
        log.info("audio: input %r at %d Hz, output %r at %d Hz (%.0f ms output latency), echo %s",
                 self.input.name, in_rate, self.output.name, out_rate, self.output_latency_ms,
                 self.echo.mode if self.echo else "off")

    def _control_echo(self, out_stream: pyaudio.Stream, out_rate: int, in_stream: pyaudio.Stream,
                      chunk_ms: int) -> None:
        """Put echo control between the streams: the output callback taps, capture cleans."""
        assert self.playback is not None and self.capture is not None
        self.echo = EchoControl(self.config.echo, PlayedAudio(out_rate, chunk_ms),
                                input_latency_s=in_stream.get_input_latency(),
                                output_latency_s=out_stream.get_output_latency())
        if self.echo.mode != "off":
            self.playback.tap = self.echo.played.push
            self.capture.echo = self.echo

    def _output_callback(self, *args: Any) -> tuple[bytes, int]:
        assert self.playback is not None
        return self.playback.callback(*args)

    def _input_callback(self, *args: Any) -> tuple[None, int]:
        if self.capture is None:  # the stream started a moment before Capture existed
            return None, pyaudio.paContinue
        return self.capture.callback(*args)

    async def close(self) -> None:
        """Stop the streams and release PortAudio; safe to call twice."""
        await trio.to_thread.run_sync(self._close)

    def _close(self) -> None:
        for stream in self._streams:
            try:
                stream.stop_stream()
                stream.close()
            except OSError as exc:
                log.warning("closing an audio stream: %s", exc)
        self._streams.clear()
        if self.capture is not None:
            self.capture.close()
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
            "output_latency_ms": round(self.output_latency_ms, 1),
            "capture_dropped": self.capture.dropped if self.capture else 0,
            "playback_queued_ms": round(self.playback.queued_ms) if self.playback else 0,
            "echo": self.echo.describe() if self.echo else EchoControl.closed(self.config.echo),
        }


def available_devices() -> list[dict[str, Any]]:
    """Every PortAudio device, for `devices` (call from a worker thread)."""
    pa = pyaudio.PyAudio()
    try:
        return [device.as_dict() for device in list_devices(pa)]
    finally:
        pa.terminate()
