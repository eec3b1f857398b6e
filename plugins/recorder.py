"""WAV files of each conversation: `mic.wav`, `assistant.wav` and `mixed.wav`.

Mono 16-bit PCM at 24 kHz in `[recording] dir` (default `<data_dir>/recordings`) /
`<conversation_id>/`, written when `[recording] enabled` (or `voiced --save-recordings`).
Each frame is placed on a shared timeline by its timestamp (gaps become silence), so
the tracks line up and `mixed.wav` is what the room heard. The headers are rewritten
every second of audio, so a crash leaves playable files; files left unfinished by
one are repaired when the daemon starts.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from voiced import hookimpl
from voiced.pcm import SAMPLE_BYTES
from voiced.plugin_host import DaemonAPI, RecordingContext

log = logging.getLogger("voiced.plugins.recorder")

HEADER_SIZE = 44
TRACKS = {"in": "mic.wav", "out": "assistant.wav"}
MIX_WINDOW_S = 1.0
"""How late a frame may arrive and still be mixed in."""


def _header(rate: int, data_bytes: int) -> bytes:
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * SAMPLE_BYTES, SAMPLE_BYTES, 16)
            + b"data" + struct.pack("<I", data_bytes))


class WavTrack:
    """A mono PCM16 WAV file written as it goes, its sizes patched every `rate` samples."""

    def __init__(self, path: Path, rate: int) -> None:
        self.path = path
        self.rate = rate
        self.samples = 0
        self._synced = 0
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - open for the track's life
        self._file.write(_header(rate, 0))

    def write(self, pcm: bytes) -> None:
        self._file.write(pcm)
        self.samples += len(pcm) // SAMPLE_BYTES
        if self.samples - self._synced >= self.rate:
            self.sync()

    def pad_to(self, sample: int) -> None:
        """Silence up to `sample` (a position on the timeline)."""
        chunk = bytes(self.rate * SAMPLE_BYTES)
        while self.samples < sample:
            self.write(chunk[: (sample - self.samples) * SAMPLE_BYTES])

    def sync(self) -> None:
        """Make the header describe everything written so far."""
        data = self.samples * SAMPLE_BYTES
        self._file.seek(4)
        self._file.write(struct.pack("<I", 36 + data))
        self._file.seek(40)
        self._file.write(struct.pack("<I", data))
        self._file.seek(0, 2)
        self._file.flush()
        self._synced = self.samples

    def close(self) -> None:
        self.sync()
        self._file.close()


class Recorder:
    """The writer for one conversation (see `voiced_recording_writer`)."""

    def __init__(self, folder: Path, rate: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.rate = rate
        self.tracks = {direction: WavTrack(folder / name, rate) for direction, name in TRACKS.items()}
        self.mixed = WavTrack(folder / "mixed.wav", rate)
        self._origin: float | None = None
        self._mix = np.zeros(0, np.int32)

    def write(self, direction: str, pcm: bytes, ts: float) -> None:
        track = self.tracks[direction]
        if self._origin is None:
            self._origin = ts
        track.pad_to(round((ts - self._origin) * self.rate))
        start = track.samples
        track.write(pcm)
        self._mix_in(start, np.frombuffer(pcm, "<i2"))
        ahead = max(t.samples for t in self.tracks.values())
        self._flush_mix(ahead - round(MIX_WINDOW_S * self.rate))

    def _mix_in(self, start: int, samples: np.ndarray) -> None:
        offset = start - self.mixed.samples
        if offset < 0:  # later than the mixing window: only the part still open is mixed
            samples, offset = samples[-offset:], 0
        end = offset + len(samples)
        if end > len(self._mix):
            self._mix = np.concatenate([self._mix, np.zeros(end - len(self._mix), np.int32)])
        self._mix[offset:end] += samples

    def _flush_mix(self, until: int) -> None:
        count = min(until - self.mixed.samples, len(self._mix))
        if count <= 0:
            return
        self.mixed.write(np.clip(self._mix[:count], -32768, 32767).astype("<i2").tobytes())
        self._mix = self._mix[count:]

    def close(self) -> None:
        self._flush_mix(self.mixed.samples + len(self._mix))
        for track in (*self.tracks.values(), self.mixed):
            track.close()


def repair(folder: Path) -> list[Path]:
    """Fix the sizes in the headers of WAV files a crash left unfinished; the ones fixed."""
    fixed = []
    for path in sorted(folder.rglob("*.wav")):
        try:
            with open(path, "r+b") as file:
                head = file.read(HEADER_SIZE)
                if len(head) < HEADER_SIZE or head[:4] != b"RIFF" or head[8:16] != b"WAVEfmt " \
                        or head[36:40] != b"data":
                    continue
                size = file.seek(0, 2)
                data = (size - HEADER_SIZE) // SAMPLE_BYTES * SAMPLE_BYTES
                if struct.unpack("<II", head[4:8] + head[40:44]) == (36 + data, data):
                    continue
                file.truncate(HEADER_SIZE + data)
                file.seek(4)
                file.write(struct.pack("<I", 36 + data))
                file.seek(40)
                file.write(struct.pack("<I", data))
        except OSError as exc:
            log.warning("recorder: cannot repair %s: %s", path, exc)
            continue
        fixed.append(path)
    if fixed:
        log.info("recorder: repaired %d unfinished recordings in %s", len(fixed), folder)
    return fixed


def recordings_dir(daemon: DaemonAPI) -> Path:
    return Path(daemon.settings.recording.dir or Path(daemon.data_dir) / "recordings").expanduser()


@hookimpl
def voiced_startup(daemon: DaemonAPI) -> None:
    folder = recordings_dir(daemon)
    if folder.is_dir():
        repair(folder)


@hookimpl
def voiced_recording_writer(ctx: RecordingContext) -> Recorder:
    return Recorder(Path(ctx.dir), ctx.rate)
