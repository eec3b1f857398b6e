"""Replacing the input stream: beside the running one, or in its place when the device
takes one stream only; either way the old one ends closed and capture follows the new."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio

from voiced.audio import streams
from voiced.audio.capture import Capture
from voiced.audio.devices import Device, DeviceError
from voiced.pcm import WIRE_RATE


class FakeStream:
    def __init__(self, capture: Capture | None = None, number: int = 0) -> None:
        self.started = self.closed = False
        self._capture, self._number = capture, number

    def start_stream(self) -> None:
        self.started = True
        if self._capture is not None:  # its first period arrives: capture takes over
            self._capture.callback(bytes(960), 480, {}, 0, stream=self._number)

    def is_stopped(self) -> bool:
        return not self.started

    def stop_stream(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True


OpenStream = Callable[..., tuple[FakeStream, int]]
MIC = Device(index=0, name="mic", max_input_channels=1, max_output_channels=0, default_sample_rate=WIRE_RATE)


def replace(monkeypatch: pytest.MonkeyPatch,
            opener: Callable[[Capture], OpenStream]) -> tuple[Capture, FakeStream, FakeStream]:
    """Replace a running FakeStream through `opener(capture)`'s open_stream; what became of both."""
    old = FakeStream()

    async def main() -> tuple[Capture, FakeStream]:
        capture = Capture(WIRE_RATE, trio.lowlevel.current_trio_token(), voice_floor_dbfs=-40.0)
        monkeypatch.setattr(streams, "open_stream", opener(capture))
        new, rate = streams.replace_input(None, MIC, old, rate=WIRE_RATE, period_ms=200,  # type: ignore[arg-type]
                                          capture=capture, number=1, callback=lambda *args: None)
        assert rate == WIRE_RATE and isinstance(new, FakeStream)
        capture.close()
        return capture, new

    capture, new = trio.run(main)
    return capture, old, new


def test_the_new_stream_starts_beside_the_old_which_is_closed_after(monkeypatch: pytest.MonkeyPatch) -> None:
    def opener(capture: Capture) -> OpenStream:
        return lambda *args, **kwargs: (FakeStream(capture, 1), WIRE_RATE)

    capture, old, new = replace(monkeypatch, opener)
    assert new.started and not new.closed
    assert old.closed and capture.switched.is_set()


def test_a_device_that_takes_one_stream_is_closed_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards issue 10 item 5: on a device that takes one stream (ALSA hw:) the standby
    period still applies: the old stream is closed before the new one opens."""
    attempts: list[FakeStream] = []

    def opener(capture: Capture) -> OpenStream:
        def open_stream(*args: Any, **kwargs: Any) -> tuple[FakeStream, int]:
            if not attempts:
                attempts.append(FakeStream())
                raise DeviceError("device busy")
            attempts.append(FakeStream())
            return attempts[-1], WIRE_RATE
        return open_stream

    _, old, new = replace(monkeypatch, opener)
    assert old.closed and new is attempts[-1] and new.started


class UnstartableStream(FakeStream):
    def start_stream(self) -> None:
        raise OSError("Device unavailable")


def test_a_replacement_that_will_not_start_is_closed_not_leaked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards a review finding: on a one-stream device the old stream is already closed when
    the new one fails to start; the new one was left open until PortAudio's terminate."""
    opened: list[FakeStream] = []

    def open_stream(*args: Any, **kwargs: Any) -> tuple[FakeStream, int]:
        if not opened:
            opened.append(FakeStream())
            raise DeviceError("device busy")
        opened.append(UnstartableStream())
        return opened[-1], WIRE_RATE

    async def main() -> None:
        capture = Capture(WIRE_RATE, trio.lowlevel.current_trio_token(), voice_floor_dbfs=-40.0)
        monkeypatch.setattr(streams, "open_stream", open_stream)
        with pytest.raises(OSError, match="unavailable"):
            streams.replace_input(None, MIC, FakeStream(), rate=WIRE_RATE, period_ms=200,  # type: ignore[arg-type]
                                  capture=capture, number=1, callback=lambda *args: None)
        capture.close()

    trio.run(main)
    assert opened[-1].closed
