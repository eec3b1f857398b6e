"""Feeding recording writers from a bounded queue in a thread of their own.

The audio path only offers frames (`queue.put_nowait`); when the writers fall behind,
the newest frames are dropped and counted. Writers are opened per conversation: the
first frame of a new conversation closes the old writers and asks for new ones.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

import trio

from .discovery import PluginRecord, one_line
from .workers import STOP, send_stop

if TYPE_CHECKING:
    from .host import PluginHost

log = logging.getLogger("voiced.plugins")

CLOSE_TIMEOUT_S = 5.0


class RecordingFeed:
    def __init__(self, host: PluginHost, maxsize: int) -> None:
        self._host = host
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self.dropped = 0
        self._writers: list[tuple[PluginRecord, Any]] = []
        self._conversation: str | None = None
        self._charged = 0  # dropped frames already added to the writers' plugin records
        self._thread = threading.Thread(target=self._run, name="voiced recording", daemon=True)
        self._thread.start()

    def offer(self, conversation_id: str, direction: str, pcm: bytes, ts: float) -> None:
        """Queue a frame; never blocks."""
        try:
            self._queue.put_nowait((conversation_id, direction, pcm, ts))
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 50) or self.dropped % 1000 == 0:
                log.warning("recording writers are slow: %d audio frames dropped", self.dropped)

    async def stop(self) -> None:
        """Close the writers and end the thread (waiting a few seconds at most)."""
        send_stop(self._queue)
        await trio.to_thread.run_sync(self._thread.join, CLOSE_TIMEOUT_S, abandon_on_cancel=True)
        if self._thread.is_alive():
            log.error("recording writers did not close within %g s", CLOSE_TIMEOUT_S)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is STOP:
                self._close()
                return
            conversation_id, direction, pcm, ts = item
            if conversation_id != self._conversation:
                self._close()
                self._conversation = conversation_id
                self._writers = self._host.open_writers(conversation_id)
            dropped, self._charged = self.dropped - self._charged, self.dropped
            for record, writer in self._writers:
                record.dropped += dropped
                if record.active:
                    self._write(record, writer, direction, pcm, ts)

    def _write(self, record: PluginRecord, writer: Any, direction: str, pcm: bytes, ts: float) -> None:
        started = time.monotonic()
        try:
            writer.write(direction, pcm, ts)
        except Exception as exc:
            log.error("plugin %s: recording write failed", record.name, exc_info=exc)
            self._host.report_from_thread(record, "recording write", one_line(exc))
            return
        took = time.monotonic() - started
        if took > self._host.timeouts.slow_write:
            self._host.report_from_thread(record, "recording write", f"slow: took {took:.2f} s")

    def _close(self) -> None:
        for record, writer in self._writers:
            try:
                writer.close()
            except Exception as exc:
                log.error("plugin %s: closing its recording writer failed", record.name, exc_info=exc)
                self._host.report_from_thread(record, "recording close", one_line(exc))
        self._writers = []
