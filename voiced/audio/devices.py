"""Sound devices as PortAudio sees them, and choosing one from the configuration.

A device is named in config by its PortAudio index or by a case-insensitive substring
of its name; None means the system default; `null` and `file:PATH.wav` are virtual
devices that need neither PortAudio nor a sound server (`voiced.audio.virtual`). All of
this talks to PortAudio, which can take a while: callers in trio run it in a worker
thread, and it holds PortAudio's lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

import pyaudio

from voiced.audio.alsa_plugins import release_unused_plugins
from voiced.audio.diagnostics import scanning
from voiced.audio.portaudio import serialised
from voiced.audio.virtual import VirtualDevice, VirtualDeviceError, VirtualStream, is_virtual

Direction = Literal["input", "output"]
Stream = pyaudio.Stream | VirtualStream
"""An open stream: PortAudio's, or a virtual device's stand-in with the same methods."""


class DeviceError(Exception):
    """No device matches, or the one chosen cannot be opened; phrased for a user."""


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    max_input_channels: int
    max_output_channels: int
    default_sample_rate: float
    is_default_input: bool = False
    is_default_output: bool = False
    virtual: VirtualDevice | None = field(default=None, compare=False, repr=False)
    """What plays or hears in place of a sound card, for `null` and `file:` devices."""

    def can(self, direction: Direction) -> bool:
        channels = self.max_input_channels if direction == "input" else self.max_output_channels
        return channels > 0

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "virtual"}


@serialised
def start_portaudio() -> tuple[pyaudio.PyAudio, list[Device]]:
    """A PortAudio instance and its devices: a device scan, with ALSA's and JACK's
    complaints kept off the terminal (one debug line says what they were)."""
    with scanning("PortAudio's device scan"):
        pa = pyaudio.PyAudio()
        release_unused_plugins()
        return pa, list_devices(pa)


def scan_for(*wanted: str | None) -> tuple[pyaudio.PyAudio | None, list[Device]]:
    """`start_portaudio()`, or no PortAudio at all when every device `wanted` is virtual."""
    if all(is_virtual(name) for name in wanted):
        return None, []
    return start_portaudio()


@serialised
def list_devices(pa: pyaudio.PyAudio) -> list[Device]:
    """Every device PortAudio reports, with the defaults marked."""
    default_in = _default_index(pa.get_default_input_device_info)
    default_out = _default_index(pa.get_default_output_device_info)
    devices = []
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        devices.append(Device(
            index=index,
            name=str(info["name"]),
            max_input_channels=int(info["maxInputChannels"]),
            max_output_channels=int(info["maxOutputChannels"]),
            default_sample_rate=float(info["defaultSampleRate"]),
            is_default_input=index == default_in,
            is_default_output=index == default_out,
        ))
    return devices


def _default_index(getter: Any) -> int | None:
    try:
        return int(getter()["index"])
    except OSError:  # PortAudio raises IOError when there is no default device
        return None


def choose_device(devices: list[Device], wanted: str | None, direction: Direction, *,
                  previous: Device | None = None) -> Device:
    """The device `wanted` names (an index, a name substring or a virtual device), or the
    default one. A virtual device chosen `previous`ly is kept: its file plays on."""
    if wanted is not None and is_virtual(wanted):
        if previous is not None and previous.virtual is not None and previous.name == wanted.strip():
            return previous
        return _virtual(wanted, direction)
    usable = [d for d in devices if d.can(direction)]
    if not usable:
        raise DeviceError(f"no {direction} device found (is a sound server running?)")
    if wanted is None or wanted.strip() == "":
        for device in usable:
            if (device.is_default_input if direction == "input" else device.is_default_output):
                return device
        return usable[0]
    wanted = wanted.strip()
    if wanted.isdigit():
        for device in usable:
            if device.index == int(wanted):
                return device
        raise DeviceError(f"no {direction} device with index {wanted}; see `voicectl devices`")
    matches = [d for d in usable if wanted.lower() in d.name.lower()]
    if not matches:
        names = ", ".join(repr(d.name) for d in usable)
        raise DeviceError(f"no {direction} device matching {wanted!r} (have: {names})")
    exact = [d for d in matches if d.name.lower() == wanted.lower()]
    return (exact or matches)[0]


def _virtual(wanted: str, direction: Direction) -> Device:
    try:
        virtual = VirtualDevice(wanted)
    except VirtualDeviceError as exc:
        raise DeviceError(str(exc)) from None
    channels = (1, 0) if direction == "input" else (0, 1)
    return Device(index=-1, name=virtual.name, max_input_channels=channels[0],
                  max_output_channels=channels[1], default_sample_rate=0.0, virtual=virtual)


@serialised
def open_stream(
    pa: pyaudio.PyAudio | None,
    device: Device,
    direction: Direction,
    *,
    rate: int,
    chunk_ms: int,
    callback: Any,
) -> tuple[Stream, int]:
    """Open a mono PCM16 callback stream at `rate`, else at the device's own rate.

    Returns the stream and the rate it runs at; the caller resamples when that is not
    the wire's. Raises DeviceError when neither rate opens. `pa` may be None for a
    virtual device only.
    """
    if device.virtual is not None:
        try:
            return device.virtual.open(direction, rate=rate, chunk_ms=chunk_ms, callback=callback)
        except VirtualDeviceError as exc:
            raise DeviceError(f"cannot open {direction} device {device.name!r}: {exc}") from None
    assert pa is not None, "a PortAudio device needs PortAudio"
    rates = [rate] + ([int(device.default_sample_rate)] if int(device.default_sample_rate) != rate else [])
    failure: Exception | None = None
    for candidate in rates:
        try:
            with scanning(f"opening {direction} device {device.name!r}"):
                stream = pa.open(
                    format=pyaudio.paInt16,
                    channels=1,
                    rate=candidate,
                    input=direction == "input",
                    output=direction == "output",
                    input_device_index=device.index if direction == "input" else None,
                    output_device_index=device.index if direction == "output" else None,
                    frames_per_buffer=candidate * chunk_ms // 1000,
                    stream_callback=callback,
                    start=False,
                )
        except (OSError, ValueError) as exc:
            failure = exc
            continue
        return stream, candidate
    raise DeviceError(f"cannot open {direction} device {device.name!r}: {failure}")
