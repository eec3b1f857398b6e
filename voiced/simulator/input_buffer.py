"""The input audio buffer: the session's input timeline, what is not yet committed, the VAD.

Times are milliseconds of audio appended since the session began. The buffer keeps
the audio from ``start_ms`` on; a commit takes it up to a point and drops it, a
clear drops all of it. With turn detection on, every append goes through the
:class:`~voiced.simulator.vad.EnergyVad`, whose speech start and stop the session
turns into events; while nobody speaks only the last second or so is kept, as the
service does not let audio from long before an utterance into it.
"""

from __future__ import annotations

from typing import Any

from voiced.pcm import pcm_bytes
from voiced.simulator.audio import BYTES_PER_MS, duration_ms
from voiced.simulator.ids import new_id
from voiced.simulator.vad import EnergyVad, SpeechStarted, VadEvent

#: While nobody speaks, the input buffer keeps only this much (plus the prefix padding).
IDLE_BUFFER_MS = 1000


class InputBuffer:
    """Appended audio not yet committed, and the speech detection that watches it."""

    def __init__(self, turn_detection: dict[str, Any] | None = None) -> None:
        self._pcm = bytearray()
        self.start_ms = 0
        self._received_bytes = 0
        #: The item id announced by `speech_started`, used again by the commit.
        self.speech_item_id: str | None = None
        self._detection: dict[str, Any] = {}
        self._vad: EnergyVad | None = None
        self.configure(turn_detection)

    @property
    def input_ms(self) -> int:
        """Milliseconds of audio received in this session: the input timeline."""
        return self._received_bytes // BYTES_PER_MS

    @property
    def buffered_ms(self) -> int:
        return duration_ms(bytes(self._pcm))

    @property
    def detecting(self) -> bool:
        """Whether turn detection (server or semantic VAD) is on."""
        return self._vad is not None

    @property
    def speaking(self) -> bool:
        return self._vad is not None and self._vad.speaking

    def configure(self, turn_detection: dict[str, Any] | None) -> None:
        """Use these turn detection settings (None or empty: manual turns); forgets speech in progress."""
        detection = turn_detection or {}
        if detection == self._detection and (self._vad is not None) == bool(detection):
            return
        self._detection = dict(detection)
        self.speech_item_id = None
        self._vad = (
            EnergyVad(
                threshold=setting(detection, "threshold", 0.5),
                prefix_padding_ms=int(setting(detection, "prefix_padding_ms", 300)),
                silence_duration_ms=int(setting(detection, "silence_duration_ms", 500)),
                position_ms=self.input_ms,
            )
            if detection
            else None
        )

    def append(self, pcm: bytes) -> list[VadEvent]:
        """Add audio; return the speech starts and stops it revealed (none without VAD).

        The caller commits what a stop ends, then calls :meth:`forget_idle_audio`.
        """
        self._pcm += pcm
        self._received_bytes += len(pcm)
        if self._vad is None:
            return []
        events = self._vad.feed(pcm, floor_ms=self.start_ms)
        for event in events:
            if isinstance(event, SpeechStarted):
                self.speech_item_id = new_id("item")
                self.drop_until(event.audio_start_ms)
        return events

    def forget_idle_audio(self) -> None:
        """While nobody speaks (with VAD), keep only the last second or so of audio."""
        if self._vad is None or self._vad.speaking:
            return
        keep_ms = IDLE_BUFFER_MS + int(setting(self._detection, "prefix_padding_ms", 300))
        if self.input_ms - self.start_ms > 2 * keep_ms:
            self.drop_until(self.input_ms - keep_ms)

    def take(self, end_ms: int) -> bytes:
        """The buffered audio up to `end_ms`, removed from the buffer (a commit)."""
        pcm = bytes(self._pcm[: pcm_bytes(max(0, end_ms - self.start_ms))])
        self.drop_until(end_ms)
        self.speech_item_id = None
        return pcm

    def stop_detecting_speech(self) -> None:
        """Forget speech in progress (after a manual commit or a clear)."""
        if self._vad is not None:
            self._vad.reset()

    def clear(self) -> None:
        """Drop everything buffered and any speech in progress."""
        self.drop_until(self.input_ms)
        self.speech_item_id = None
        self.stop_detecting_speech()

    def drop_until(self, ms: int) -> None:
        drop = pcm_bytes(max(0, ms - self.start_ms))
        del self._pcm[:drop]
        self.start_ms = max(self.start_ms, ms)


def setting(detection: dict[str, Any], name: str, default: float) -> float:
    """A turn detection number, its default when absent or null (semantic_vad has none)."""
    value = detection.get(name)
    return default if value is None else float(value)
