"""Push-to-talk from the control socket: a turn the user opens and closes, or that ends by itself."""

from __future__ import annotations

from collections.abc import Callable

import trio

from voiced.conversation import Conversation

from .effects import Effects
from .microphone import Microphone


class PushToTalk:
    """`talk(start, seconds)` for the current conversation; a timer never ends a later turn."""

    def __init__(self, conversation: Callable[[], Conversation], microphone: Microphone,
                 effects: Effects, nursery: trio.Nursery) -> None:
        self._conversation = conversation
        self._microphone = microphone
        self._effects = effects
        self._nursery = nursery
        self._timer = trio.CancelScope()
        """The pending end of a `talk --for` turn."""

    def talk(self, start: bool, seconds: float | None = None) -> None:
        """Open (`start`) or close the user's turn; with `seconds`, it closes by itself unless
        a start or stop comes first."""
        self.cancel()
        conversation = self._conversation()
        if start and not conversation.talking:
            self._microphone.send_audio_from_now()
        self._effects.apply(conversation.talk(start))
        if start and seconds is not None:
            self._timer = trio.CancelScope()
            self._nursery.start_soon(self._close_after, seconds, self._timer)

    def cancel(self) -> None:
        """Forget a pending end (the turn it would end belongs to an old conversation)."""
        self._timer.cancel()

    async def _close_after(self, seconds: float, timer: trio.CancelScope) -> None:
        with timer:
            await trio.sleep(seconds)
            self._effects.apply(self._conversation().talk(False))
