"""Wake detectors fed from a bounded queue in a thread each, so standby audio never waits."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from .discovery import PluginRecord, one_line
from .workers import STOP, send_stop

if TYPE_CHECKING:
    from .host import PluginHost

log = logging.getLogger("voiced.plugins")



class GuardedDetector:
    """A plugin's wake detector behind a queue: `feed` never blocks and never raises."""

    def __init__(self, host: PluginHost, record: PluginRecord, detector: Any, maxsize: int) -> None:
        self.plugin = record.name
        self._host = host
        self._record = record
        self._detector = detector
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self._woke = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"voiced wake {record.name}", daemon=True)
        self._thread.start()

    def feed(self, pcm: bytes) -> bool:
        """Hand a mic frame over; True once the detector has heard its wake word."""
        if self._woke.is_set():
            self._woke.clear()
            return True
        if self._record.active:
            try:
                self._queue.put_nowait(pcm)
            except queue.Full:
                self._record.dropped += 1
        return False

    def close(self) -> None:
        """Stop the thread and close the detector (in that thread); does not wait."""
        send_stop(self._queue)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is STOP:
                self._close()
                return
            if not self._record.active:
                continue
            started = time.monotonic()
            try:
                heard = self._detector.feed(item)
            except Exception as exc:
                log.error("plugin %s: wake detector failed", self.plugin, exc_info=exc)
                self._host.report_from_thread(self._record, "wake detector", one_line(exc))
                continue
            took = time.monotonic() - started
            if took > self._host.timeouts.slow_write:
                self._host.report_from_thread(self._record, "wake detector", f"slow: took {took:.2f} s")
            if heard:
                self._woke.set()

    def _close(self) -> None:
        close = getattr(self._detector, "close", None)
        if close is None:
            return
        try:
            close()
        except Exception as exc:
            self._host.report_from_thread(self._record, "wake detector close", one_line(exc))
