"""PortAudio streams: listing the devices, closing a stream, and replacing the running input
stream by one with other periods, without a gap.

Standby reads the microphone in long periods, awake in short ones. The new stream is
opened and started beside the old one; `voiced.audio.capture` splices the two where the
new one's first period begins, and the old one is closed after. A device that takes a
single stream (an ALSA `hw:` device) is closed first instead, losing what it hears
meanwhile. Runs in a worker thread; PortAudio calls hold its lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pyaudio

from voiced.audio.capture import Capture
from voiced.audio.devices import Device, DeviceError, Stream, open_stream, start_portaudio
from voiced.audio.portaudio import lock, serialised

log = logging.getLogger("voiced.audio")

SPLICE_WAIT_S = 0.5
"""How long the old stream may take to reach the new one's start, at least (three of the
new stream's periods when that is longer: the pulse plugin's first callback can be late)."""


def replace_input(pa: pyaudio.PyAudio | None, device: Device, old: Stream, *, rate: int, period_ms: int,
                  capture: Capture, number: int, callback: Callable[..., Any]) -> tuple[Stream, int]:
    """Open input stream number `number` on `device` with `period_ms` periods, start it and
    close `old` once capture has taken over; the new stream and its rate. Raises
    DeviceError or OSError when it cannot open or start."""
    with lock:
        try:
            stream, opened_at = open_stream(pa, device, "input", rate=rate, chunk_ms=period_ms,
                                            callback=callback)
            if opened_at != rate:
                stream.close()
                raise DeviceError(f"input opened at {opened_at} Hz, not {rate} Hz")
            capture.switch_to(number)
        except DeviceError as exc:
            log.debug("input stream beside the running one: %s; replacing it", exc)
            close_stream(old)
            stream, opened_at = open_stream(pa, device, "input", rate=rate, chunk_ms=period_ms,
                                            callback=callback)
            try:
                capture.retune(opened_at, number)
                stream.start_stream()
            except OSError:
                close_stream(stream)  # the supervisor reopens the device from scratch
                raise
            return stream, opened_at
        try:
            stream.start_stream()
        except OSError:
            close_stream(stream)  # the running stream goes on
            raise
    if not capture.switched.wait(max(SPLICE_WAIT_S, 3 * period_ms / 1000)):  # its first period
        capture.hand_over()
    with lock:
        close_stream(old)
    return stream, opened_at


def close_stream(stream: Stream | None) -> None:
    """Stop and close `stream` (call holding PortAudio's lock)."""
    if stream is None:
        return
    try:
        if not stream.is_stopped():
            stream.stop_stream()
        stream.close()
    except OSError as exc:
        log.warning("closing an audio stream: %s", exc)


@serialised
def available_devices() -> list[dict[str, Any]]:
    """Every PortAudio device, for `devices` (call from a worker thread)."""
    pa, devices = start_portaudio()
    try:
        return [device.as_dict() for device in devices]
    finally:
        pa.terminate()
