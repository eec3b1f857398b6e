"""Microphone audio kept while there is no session (a rollover, a reconnect, waking up),
sent first once the next session is up."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from voiced.pcm import pcm_ms

HELD_MS = 10_000
"""The newest audio kept: enough to bridge a reconnect, bounded in memory."""


class HeldAudio:
    def __init__(self) -> None:
        self.holding = False
        self._frames: deque[bytes] = deque()
        self.ms = 0.0

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._frames)

    def hold(self, frames: Iterable[bytes]) -> None:
        """Keep `frames`, and every frame offered from now on."""
        self.holding = True
        self.keep(frames)

    def offer(self, pcm: bytes) -> None:
        """A frame captured while there is no session: kept while holding."""
        if self.holding:
            self.keep([pcm])

    def keep(self, frames: Iterable[bytes]) -> None:
        """Add `frames`; the oldest give way past HELD_MS."""
        for pcm in frames:
            self._frames.append(pcm)
            self.ms += pcm_ms(len(pcm))
        while self.ms > HELD_MS:
            self.ms -= pcm_ms(len(self._frames.popleft()))

    def forget(self) -> None:
        self.holding = False
        self._frames.clear()
        self.ms = 0.0
