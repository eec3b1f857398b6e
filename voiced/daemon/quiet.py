"""When the conversation went quiet, and what waits for it to be.

Quiet means nobody is speaking or being answered: the states below. A plugin's
`when_quiet` callback, a rollover and the idle timeout all wait for such a moment.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from voiced.bus import Event
from voiced.conversation import Conversation, State

QUIET_STATES = frozenset({State.LISTENING, State.STANDBY, State.PAUSED, State.ERROR})


def done_speaking(conversation: Conversation) -> bool:
    """Quiet, and the last answer has finished playing."""
    return conversation.state in QUIET_STATES and not conversation.audio_playing


class Quiet:
    """Follows `state.changed` on the bus (`on_event` is its listener)."""

    def __init__(self, done_speaking: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._done_speaking = done_speaking
        self._clock = clock
        self._since: float | None = None
        self._waiting: list[Callable[[], None]] = []

    def on_event(self, event: Event) -> None:
        if event.type != "state.changed":
            return
        if State(event.data["state"]) not in QUIET_STATES:
            self._since = None
            return
        if self._since is None:
            self._since = self._clock()
        waiting, self._waiting = self._waiting, []
        for callback in waiting:
            callback()

    def quiet_for(self, now: float) -> float:
        """Seconds since the conversation last went quiet (0 while someone speaks or thinks)."""
        return 0.0 if self._since is None else now - self._since

    def when_quiet(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the assistant has finished what it is saying (now if it has)."""
        if self._done_speaking():
            callback()
        else:
            self._waiting.append(callback)
