"""Several rooms: a wake that waits for the verdict on which room answers.

A plugin (the bundled `mqtt` one) may set an arbiter. When standby hears a reason to wake,
listening asks the arbiter, with the loudness of the speech that woke it, and keeps the
microphone's frames meanwhile: nothing is sent, and nothing is lost for the winner. The
verdict may come from any thread; without one within `VERDICT_TIMEOUT_S` this room
answers, since a broker that went quiet must not make voiced deaf.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import trio

from voiced.audio.levels import level_dbfs

Arbiter = Callable[[float, Callable[[bool], None]], None]
"""`arbiter(loudness_dbfs, decide)`, called on the daemon's thread, returns at once; it calls
`decide(won)` later, from any thread."""

VERDICT_TIMEOUT_S = 3.0
LOSER_HOLDOFF_S = 6.0
"""After losing, this room's ear ignores voice this long: the rest of the same utterance must
not wake it on its own (and then win a claim nobody else makes)."""


def loudness_dbfs(frames: Iterable[bytes]) -> float:
    """The loudness of the waking speech: the level of its loudest frame."""
    return max((level_dbfs(frame) for frame in frames), default=-math.inf)


@dataclass
class Claim:
    """One wake waiting for its verdict, with the frames heard meanwhile."""

    reason: str
    frames: list[bytes]
    loudness_dbfs: float
    decided: trio.Event = field(default_factory=trio.Event)
    won: bool = True

    def verdict_from_any_thread(self) -> Callable[[bool], None]:
        """`decide(won)` for the arbiter: callable from any thread, never blocks, first call counts."""
        token = trio.lowlevel.current_trio_token()

        def decide(won: bool) -> None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(self._decide, won)

        return decide

    def _decide(self, won: bool) -> None:
        if not self.decided.is_set():
            self.won = won
            self.decided.set()

    async def verdict(self) -> bool | None:
        """Won or lost; None when no verdict came in time."""
        with trio.move_on_after(VERDICT_TIMEOUT_S):
            await self.decided.wait()
            return self.won
        return None
