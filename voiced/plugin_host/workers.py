"""A thread of the host's own that works through a bounded queue, for the recording writers
and each wake detector: whoever feeds it (the audio path) never waits for a plugin.

When the thread falls behind, the queue fills and new items are refused: the feeder counts
them. The signal to stop still gets through a full queue, and the thread then finishes.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import trio

from .discovery import PluginRecord

log = logging.getLogger("voiced.plugins")

T = TypeVar("T")

Report = Callable[[PluginRecord, str, str], None]
"""`report(record, hook, error)`: count a failure against a plugin, from any thread."""


class _Stop:
    """Put on a worker's queue: finish and end the thread."""


_STOP = _Stop()


class QueueWorker(Generic[T]):
    """A daemon thread calling `handle(item)` for each item offered, in order, then `finish()`
    once it is stopped. Both run in that thread; neither may raise (a bug in one is logged)."""

    def __init__(self, name: str, maxsize: int, handle: Callable[[T], None],
                 finish: Callable[[], None]) -> None:
        self._queue: queue.Queue[T | _Stop] = queue.Queue(maxsize)
        self._handle = handle
        self._finish = finish
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def stopping(self) -> bool:
        """`stop` was called: the thread has finished or soon will."""
        return self._stopping

    def offer(self, item: T) -> bool:
        """Queue `item` without waiting; False when the queue is full and `item` was dropped."""
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            return False
        return True

    def stop(self) -> None:
        """Ask the thread to finish after the items already queued; returns at once. When the
        queue is full, its oldest items give way (losing the tail beats losing the stop)."""
        if self._stopping:
            return
        self._stopping = True
        while True:
            try:
                self._queue.put_nowait(_STOP)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()

    async def join(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds (in a trio worker thread) for the thread to end after
        `stop`; True when it has ended. Cancelling it abandons the wait, not the thread."""
        await trio.to_thread.run_sync(self._thread.join, timeout, abandon_on_cancel=True)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not isinstance(item := self._queue.get(), _Stop):
            self._guarded(self._handle, item)
        self._guarded(self._finish)

    def _guarded(self, fn: Callable[..., None], *args: object) -> None:
        # The handlers catch what plugins raise; a bug of ours must still not end the thread,
        # or its queue would fill and the stop would never be answered.
        try:
            fn(*args)
        except Exception:
            log.exception("%s failed", self._thread.name)
