"""WAV files of each conversation: `mic.wav`, `assistant.wav` and `mixed.wav`.

Mono 16-bit PCM at 24 kHz in `[recording] dir` (default `<data_dir>/recordings`) /
`<conversation_id>/`, written when `[recording] enabled` (or `voiced --save-recordings`).
Each frame is placed on a shared timeline by its timestamp (short gaps become silence), so
the tracks line up and `mixed.wav` is what the room heard.

One take (the three files) per awake stretch: standby and pauses record nothing, so audio
resuming more than `STRETCH_GAP_S` after the timeline's end starts the next take,
`mic-2.wav`, `assistant-2.wav` and `mixed-2.wav` (then `-3`, ...); the gap is not written.
A take also ends before a file outgrows what a WAV header can count (`MAX_DATA_BYTES`,
about 24 hours), and the next one goes on from there. The headers are rewritten every
second of audio, so a crash leaves playable files; files left unfinished by one are
repaired when the daemon starts.
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
MIXED = "mixed.wav"
FILES = (*TRACKS.values(), MIXED)
MIX_WINDOW_S = 1.0
"""How late a frame may arrive and still be mixed in."""
STRETCH_GAP_S = 5.0
"""Audio resuming longer than this after the timeline's end starts a new take."""
MAX_DATA_BYTES = 2**32 - 2**20
"""The most audio a file takes: the header's 32-bit RIFF size counts the data and 36 bytes
more, and 4 GiB less 1 MiB leaves room for them."""
MAX_WAV_DATA = 2**32 - 1 - (HEADER_SIZE - 8)
"""The most data any WAV header can describe."""


def _header(rate: int, data_bytes: int) -> bytes:
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * SAMPLE_BYTES, SAMPLE_BYTES, 16)
            + b"data" + struct.pack("<I", data_bytes))


def take_name(name: str, number: int) -> str:
    """The file `name` (`mic.wav`) of take `number`: `mic.wav`, `mic-2.wav`, `mic-3.wav`, ..."""
    if number == 1:
        return name
    stem, _, suffix = name.rpartition(".")
    return f"{stem}-{number}.{suffix}"


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
        """Silence up to `sample` (a position on the timeline), written a second at a time."""
        while (missing := sample - self.samples) > 0:
            self.write(bytes(min(missing, self.rate) * SAMPLE_BYTES))

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


class Take:
    """One set of files, a track per direction and their mix, on a timeline that starts at
    `origin` (monotonic seconds)."""

    def __init__(self, folder: Path, number: int, rate: int, origin: float) -> None:
        self.rate = rate
        self.origin = origin
        self.tracks = {direction: WavTrack(folder / take_name(name, number), rate)
                       for direction, name in TRACKS.items()}
        self.mixed = WavTrack(folder / take_name(MIXED, number), rate)
        self._mix = np.zeros(0, np.int32)
        """The mix from `mixed.samples` on: still open to frames arriving late."""

    @property
    def end(self) -> int:
        """The timeline's end: the position after the last sample of any track."""
        return max(track.samples for track in self.tracks.values())

    def position(self, ts: float) -> int:
        """Where a sample of monotonic time `ts` falls on the timeline."""
        return round((ts - self.origin) * self.rate)

    def write(self, direction: str, pcm: bytes, ts: float) -> None:
        position = self.position(ts)
        if position < 0:  # from before the take began (a frame of the other track began it)
            pcm, position = pcm[-position * SAMPLE_BYTES :], 0
        if not pcm:
            return
        track = self.tracks[direction]
        track.pad_to(position)
        start = track.samples
        track.write(pcm)
        settled = self.end - round(MIX_WINDOW_S * self.rate)
        self._settle_mix(min(start, settled))  # silence before the frame goes out, not into the buffer
        self._mix_in(start, np.frombuffer(pcm, "<i2"))
        self._settle_mix(settled)

    def _mix_in(self, start: int, samples: np.ndarray) -> None:
        offset = start - self.mixed.samples
        if offset < 0:  # later than the mixing window: only the part still open is mixed
            samples, offset = samples[-offset:], 0
        end = offset + len(samples)
        if end > len(self._mix):
            self._mix = np.concatenate([self._mix, np.zeros(end - len(self._mix), np.int32)])
        self._mix[offset:end] += samples

    def _settle_mix(self, until: int) -> None:
        """Write the mix up to position `until`: what is buffered, then silence."""
        count = min(until - self.mixed.samples, len(self._mix))
        if count > 0:
            self.mixed.write(np.clip(self._mix[:count], -32768, 32767).astype("<i2").tobytes())
            self._mix = self._mix[count:]
        if not len(self._mix):
            self.mixed.pad_to(until)

    def close(self) -> None:
        self._settle_mix(self.mixed.samples + len(self._mix))
        for track in (*self.tracks.values(), self.mixed):
            track.close()


class Recorder:
    """The writer for one conversation (see `voiced_recording_writer`): a take per awake stretch.

    Audio resuming more than `gap_s` after the timeline's end starts a new take; so does a
    frame that would take a file past `max_data_bytes` of audio.
    """

    def __init__(self, folder: Path, rate: int, *, gap_s: float = STRETCH_GAP_S,
                 max_data_bytes: int = MAX_DATA_BYTES) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.rate = rate
        self._gap = round(gap_s * rate)
        self._max_samples = min(max_data_bytes, MAX_WAV_DATA) // SAMPLE_BYTES
        self._take: Take | None = None
        self._number = 0

    @property
    def take(self) -> Take | None:
        """The take being written, if any."""
        return self._take

    def write(self, direction: str, pcm: bytes, ts: float) -> None:
        pcm = pcm[: len(pcm) - len(pcm) % SAMPLE_BYTES]
        take = self._take
        if take is None:
            take = self._next(ts)
        elif (position := take.position(ts)) - take.end > self._gap:
            take = self._next(ts)  # standby or a pause came between
        elif (take.end and max(position, take.tracks[direction].samples) + len(pcm) // SAMPLE_BYTES
              > self._max_samples):
            take = self._next(take.origin + take.end / self.rate)  # full: go on in new files
        take.write(direction, pcm, ts)

    def _next(self, origin: float) -> Take:
        """Close the take being written and start the next, its timeline at `origin`."""
        done, self._take = self._take, None
        if done is not None:
            done.close()
        self._number += 1
        # Files already here (the plugins were reloaded mid-conversation) are kept.
        while any((self.folder / take_name(name, self._number)).exists() for name in FILES):
            self._number += 1
        self._take = Take(self.folder, self._number, self.rate, origin)
        log.debug("recorder: take %d in %s", self._number, self.folder)
        return self._take

    def close(self) -> None:
        done, self._take = self._take, None
        if done is not None:
            done.close()


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
                if data > MAX_WAV_DATA:
                    log.warning("recorder: cannot repair %s: %d bytes are more than a WAV header counts",
                                path, size)
                    continue
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
    return Recorder(Path(ctx.dir), ctx.rate, gap_s=STRETCH_GAP_S, max_data_bytes=MAX_DATA_BYTES)
