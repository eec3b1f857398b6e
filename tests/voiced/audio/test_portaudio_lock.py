"""PortAudio is called one call at a time, whichever worker threads call it.

A fake pyaudio records every call that is entered while another one is still running;
each call lingers a moment, as a real one does while the pulse plugin talks to the
sound server, so that calls from two threads would overlap without the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyaudio
import pytest
import trio

from voiced.audio.duplex import Audio, available_devices
from voiced.config import AudioConfig

ROUNDS = 20
DEVICES = [
    {"name": "fake microphone", "maxInputChannels": 1, "maxOutputChannels": 0, "defaultSampleRate": 24000.0},
    {"name": "fake speaker", "maxInputChannels": 0, "maxOutputChannels": 2, "defaultSampleRate": 48000.0},
]


class PortAudioCalls:
    """Counts the calls under way; `overlaps` names each call entered while another ran."""

    def __init__(self) -> None:
        self._count_lock = threading.Lock()
        self._running: list[str] = []
        self.overlaps: list[tuple[str, tuple[str, ...]]] = []
        self.made = 0

    @contextmanager
    def call(self, name: str) -> Iterator[None]:
        with self._count_lock:
            if self._running:
                self.overlaps.append((name, tuple(self._running)))
            self._running.append(name)
            self.made += 1
        try:
            time.sleep(0.0005)
            yield
        finally:
            with self._count_lock:
                self._running.remove(name)


def fake_pyaudio(calls: PortAudioCalls) -> type:
    class FakeStream:
        def __init__(self) -> None:
            self._stopped = True

        def start_stream(self) -> None:
            with calls.call("Pa_StartStream"):
                self._stopped = False

        def stop_stream(self) -> None:
            with calls.call("Pa_StopStream"):
                self._stopped = True

        def is_stopped(self) -> bool:
            with calls.call("Pa_IsStreamStopped"):
                return self._stopped

        def close(self) -> None:
            with calls.call("Pa_CloseStream"):
                pass

        def get_input_latency(self) -> float:
            with calls.call("Pa_GetStreamInfo"):
                return 0.01

        def get_output_latency(self) -> float:
            with calls.call("Pa_GetStreamInfo"):
                return 0.02

    class FakePyAudio:
        def __init__(self) -> None:
            with calls.call("Pa_Initialize"):
                pass

        def terminate(self) -> None:
            with calls.call("Pa_Terminate"):
                pass

        def get_device_count(self) -> int:
            with calls.call("Pa_GetDeviceCount"):
                return len(DEVICES)

        def get_device_info_by_index(self, index: int) -> dict[str, Any]:
            with calls.call("Pa_GetDeviceInfo"):
                return DEVICES[index]

        def get_default_input_device_info(self) -> dict[str, Any]:
            with calls.call("Pa_GetDefaultInputDevice"):
                return {"index": 0}

        def get_default_output_device_info(self) -> dict[str, Any]:
            with calls.call("Pa_GetDefaultOutputDevice"):
                return {"index": 1}

        def open(self, **kwargs: Any) -> FakeStream:
            with calls.call("Pa_OpenStream"):
                return FakeStream()

    return FakePyAudio


def test_listing_devices_never_overlaps_a_reopen_or_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards [S]13: `devices` initialised, scanned and terminated PortAudio in one worker
    thread while another reopened the devices or started and stopped the output stream."""
    calls = PortAudioCalls()
    monkeypatch.setattr(pyaudio, "PyAudio", fake_pyaudio(calls))
    audio = Audio(AudioConfig(sample_rate=24_000))
    listed: list[list[dict[str, Any]]] = []

    async def list_devices() -> None:
        for _ in range(ROUNDS):
            listed.append(await trio.to_thread.run_sync(available_devices))

    async def supervise() -> None:  # what `Audio.supervise` does, one step after another
        for _ in range(ROUNDS):
            await trio.to_thread.run_sync(audio._reopen)
            await trio.to_thread.run_sync(audio._start_output)
            await trio.to_thread.run_sync(audio._stop_output)

    async def main() -> None:
        await audio.open(on_drained=lambda: None, on_item_started=lambda *_: None)
        try:
            async with trio.open_nursery() as nursery:
                for task in (list_devices, supervise):
                    nursery.start_soon(task)
        finally:
            await audio.close()

    trio.run(main)
    assert audio.reopened == ROUNDS and len(listed) == ROUNDS
    assert [d["name"] for d in listed[-1]] == ["fake microphone", "fake speaker"]
    assert calls.made > 10 * ROUNDS
    assert calls.overlaps == []
