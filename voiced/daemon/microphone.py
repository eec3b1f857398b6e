"""Microphone frames on their way to the server: past standby, pause and push-to-talk."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Callable

from voiced.audio.capture import MicFrame

from .current import CurrentConversation
from .outbox import Outbox


class Microphone:
    """Streams capture frames into the outbox for the conversation under way."""

    def __init__(self, current: CurrentConversation, *, standby_keeps: Callable[[bytes], bool],
                 record: Callable[[str, bytes, float], None], outbox: Outbox,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`standby_keeps(pcm)` is True while standby keeps the audio on this machine;
        `record` hands audio to the recording writers (it never blocks)."""
        self._current = current
        self._standby_keeps = standby_keeps
        self._record = record
        self._outbox = outbox
        self._clock = clock
        self._sent_from = 0.0

    def send_audio_from_now(self) -> None:
        """Send no microphone audio captured before this moment, though some may still be
        on its way (quiet audio travels in batches, see `voiced.audio.capture`)."""
        self._sent_from = self._clock()

    async def run(self, frames: AsyncIterable[MicFrame]) -> None:
        async for frame in frames:
            if self._standby_keeps(frame.pcm):
                continue  # standby: the frame stays on this machine
            frame = frame.since(self._sent_from)
            if not frame.pcm:
                continue
            conversation = self._current.conversation
            if not conversation.paused:
                self._record("in", frame.pcm, frame.started_at)
            event = conversation.microphone_frame(frame.pcm)
            if event is not None:
                self._outbox.offer_audio(event, frame.captured_at)
