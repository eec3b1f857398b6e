"""`voicectl doctor`'s checks of the sound server and the devices (PortAudio, pactl)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from .check import Check

PACTL_TIMEOUT_S = 3.0
PROBE_S = 0.05


# -- sound ---------------------------------------------------------------------------


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2: ALSA prints a screenful while PortAudio looks for devices."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class PortAudio:
    """One PyAudio instance for the device checks; ``error`` says why there is none."""

    def __init__(self) -> None:
        self.pa: Any = None
        self.devices: list[Any] = []
        self.error: str | None = None
        try:
            import pyaudio

            from voiced.audio.devices import list_devices

            with quiet_stderr():
                self.pa = pyaudio.PyAudio()
                self.devices = list_devices(self.pa)
        except Exception as exc:
            self.error = f"PortAudio: {exc}"

    def close(self) -> None:
        if self.pa is not None:
            with quiet_stderr():
                self.pa.terminate()
            self.pa = None


def check_sound_server(portaudio: PortAudio) -> Check:
    """PulseAudio or PipeWire: ``pactl info`` when pactl is installed, else ALSA's pulse device."""
    fix = (
        "start the sound server: systemctl --user start pipewire-pulse (PipeWire) "
        "or pulseaudio --start"
    )
    pactl = shutil.which("pactl")
    if pactl is None:
        names = [device.name for device in portaudio.devices]
        found = [name for name in names if name.lower() in ("pulse", "pipewire")]
        if found:
            return Check("sound server", True, f"PortAudio has the {found[0]!r} device (pactl not installed)")
        return Check(
            "sound server",
            False,
            "no 'pulse' or 'pipewire' device in PortAudio's list (and pactl is not installed)",
            fix + "; install libasound2-plugins for ALSA's pulse device",
        )
    try:
        result = subprocess.run(
            [pactl, "info"], capture_output=True, text=True, timeout=PACTL_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return Check("sound server", False, f"pactl info did not answer in {PACTL_TIMEOUT_S:g} s", fix)
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
        return Check("sound server", False, f"pactl info: {why}", fix)
    fields = dict(
        line.split(":", 1) for line in result.stdout.splitlines() if ":" in line
    )
    name = fields.get("Server Name", "?").strip()
    version = fields.get("Server Version", "").strip()
    return Check("sound server", True, f"{name} {version} (pactl info)".replace("  ", " "))


def check_device(
    portaudio: PortAudio, settings: Any, direction: str, daemon_running: bool
) -> Check:
    """The configured (or default) device exists and opens at 24 kHz, else at its own rate."""
    from voiced.audio.devices import DeviceError, choose_device, open_stream
    from voiced.pcm import SAMPLE_BYTES, WIRE_RATE

    name = f"{direction} device"
    wanted = getattr(settings.audio, f"{direction}_device")
    configured = f'audio.{direction}_device = "{wanted}"' if wanted else "the default device"
    choose_fix = (
        f"voicectl devices lists them; choose one by index or part of its name: "
        f"voicectl config set audio.{direction}_device NAME"
    )
    if portaudio.pa is None:
        return Check(name, False, portaudio.error or "PortAudio did not start", "pip install pyaudio")
    try:
        device = choose_device(portaudio.devices, wanted, direction)  # type: ignore[arg-type]
    except DeviceError as exc:
        return Check(name, False, f"{configured}: {exc}", choose_fix)
    label = f"{device.name!r} (index {device.index}, {configured})"

    def callback(data: bytes | None, frames: int, *_: Any) -> tuple[bytes | None, int]:
        return (None if direction == "input" else bytes(SAMPLE_BYTES * frames)), 0  # silence; paContinue

    try:
        with quiet_stderr():
            stream, rate = open_stream(
                portaudio.pa, device, direction,  # type: ignore[arg-type]
                rate=WIRE_RATE, chunk_ms=settings.audio.chunk_ms, callback=callback,
            )
            try:
                stream.start_stream()
                time.sleep(PROBE_S)
                stream.stop_stream()
            finally:
                stream.close()
    except (DeviceError, OSError) as exc:
        held = " voiced is running and may hold it: voicectl pause, or stop voiced, then retry." \
            if daemon_running else ""
        return Check(name, False, f"{label}: {exc}", f"check the device and the sound server.{held}".strip())
    note = "" if rate == WIRE_RATE else f" (at {rate} Hz, resampled to {WIRE_RATE})"
    also = " while voiced runs" if daemon_running else ""
    return Check(name, True, f"{label} opens at {rate} Hz{also}{note}")
