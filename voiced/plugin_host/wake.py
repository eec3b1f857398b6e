"""Wake detectors fed from a bounded queue in a thread each, so standby audio never waits."""

from __future__ import annotations

import logging
import threading
import time

from .api import WakeDetector
from .discovery import PluginRecord, one_line
from .workers import QueueWorker, Report

log = logging.getLogger("voiced.plugins")


class GuardedDetector:
    """A plugin's wake detector behind a queue and a thread of its own: `feed` never blocks
    and never raises. `close()` ends the thread and closes the plugin's detector in it."""

    def __init__(self, record: PluginRecord, detector: WakeDetector, *, report: Report,
                 slow_feed_s: float, maxsize: int) -> None:
        """`report(record, hook, error)` is called from the thread for each failure, and for each
        `feed` slower than `slow_feed_s`; at most `maxsize` frames wait."""
        self.plugin = record.name
        self._record = record
        self._detector = detector
        self._report = report
        self._slow_feed_s = slow_feed_s
        self._woke = threading.Event()
        self._worker = QueueWorker[bytes](f"voiced wake {record.name}", maxsize, self._feed, self._close)

    @property
    def closed(self) -> bool:
        """`close` was called (the thread may still be finishing)."""
        return self._worker.stopping

    def feed(self, pcm: bytes) -> bool:
        """Hand a mic frame over; True once the detector has heard its wake word."""
        if self._woke.is_set():
            self._woke.clear()
            return True
        if self._record.active and not self.closed and not self._worker.offer(pcm):
            self._record.dropped += 1
        return False

    def close(self) -> None:
        """Stop the thread and close the detector (in that thread); does not wait. Frames fed
        afterwards are ignored; closing again does nothing."""
        self._worker.stop()

    async def wait_closed(self, timeout: float) -> bool:
        """After `close`, wait up to `timeout` seconds for the thread to end; True when it has."""
        return await self._worker.join(timeout)

    def _feed(self, pcm: bytes) -> None:
        if not self._record.active:
            return
        started = time.monotonic()
        try:
            heard = self._detector.feed(pcm)
        except Exception as exc:
            log.error("plugin %s: wake detector failed", self.plugin, exc_info=exc)
            self._report(self._record, "wake detector", one_line(exc))
            return
        took = time.monotonic() - started
        if took > self._slow_feed_s:
            self._report(self._record, "wake detector", f"slow: took {took:.2f} s")
        if heard:
            self._woke.set()

    def _close(self) -> None:
        close = getattr(self._detector, "close", None)
        if close is None:
            return
        try:
            close()
        except Exception as exc:
            self._report(self._record, "wake detector close", one_line(exc))
