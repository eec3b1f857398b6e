"""Feeding recording writers from a bounded queue in a thread of their own.

The audio path only offers frames; when the writers fall behind, the newest frames are
dropped and counted. Writers are opened per conversation: the first frame of a new
conversation closes the old writers and asks the plugins for new ones.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pluggy
import trio

from .api import RecordingContext, RecordingWriter
from .calling import hook_args
from .discovery import PluginRecord, one_line
from .workers import QueueWorker, Report

log = logging.getLogger("voiced.plugins")

CLOSE_TIMEOUT_S = 5.0

_Frame = tuple[str, str, bytes, float]
"""conversation_id, direction, pcm, ts"""


class RecordingFeed:
    """The recording thread: opens the writers of each conversation, writes frames, closes them."""

    def __init__(self, impls: Callable[[], list[tuple[PluginRecord, pluggy.HookImpl]]], folder: Path, *,
                 report: Report, slow_write_s: float, maxsize: int) -> None:
        """Create it inside trio (a coroutine writer factory is awaited there).

        `impls()` gives the active `voiced_recording_writer` implementations; a conversation's
        recordings go in `folder / conversation_id`. `report(record, hook, error)` is called
        from the thread for each failure, and for each write slower than `slow_write_s`; at
        most `maxsize` frames wait.
        """
        self._impls = impls
        self._folder = folder
        self._report = report
        self._slow_write_s = slow_write_s
        self._token = trio.lowlevel.current_trio_token()
        self.dropped = 0
        self._writers: list[tuple[PluginRecord, RecordingWriter]] = []
        self._conversation: str | None = None
        self._charged = 0  # dropped frames already added to the writers' plugin records
        self._worker = QueueWorker[_Frame]("voiced recording", maxsize, self._handle, self._close)

    def offer(self, conversation_id: str, direction: str, pcm: bytes, ts: float) -> None:
        """Queue a frame; never blocks."""
        if not self._worker.offer((conversation_id, direction, pcm, ts)):
            self.dropped += 1
            if self.dropped in (1, 50) or self.dropped % 1000 == 0:
                log.warning("recording writers are slow: %d audio frames dropped", self.dropped)

    async def stop(self) -> None:
        """Write what is queued, close the writers and end the thread, waiting a few seconds at
        most (then the thread is left to finish alone, and that is logged)."""
        self._worker.stop()
        if not await self._worker.join(CLOSE_TIMEOUT_S):
            log.error("recording writers did not close within %g s", CLOSE_TIMEOUT_S)

    def _handle(self, frame: _Frame) -> None:
        conversation_id, direction, pcm, ts = frame
        if conversation_id != self._conversation:
            self._close()
            self._conversation = conversation_id
            self._writers = self._open(conversation_id)
        dropped, self._charged = self.dropped - self._charged, self.dropped
        for record, writer in self._writers:
            record.dropped += dropped
            if record.active:
                self._write(record, writer, direction, pcm, ts)

    def _open(self, conversation_id: str) -> list[tuple[PluginRecord, RecordingWriter]]:
        """Ask each `voiced_recording_writer` plugin for a writer."""
        ctx = RecordingContext(conversation_id, self._folder / conversation_id)
        writers: list[tuple[PluginRecord, RecordingWriter]] = []
        for record, impl in self._impls():
            try:
                made = impl.function(**hook_args(impl, ctx=ctx))
                if inspect.isawaitable(made):  # a coroutine implementation: awaited in trio
                    made = trio.from_thread.run(_awaited, made, trio_token=self._token)
                # What the hook promises; a writer that breaks the promise fails where it is used.
                writer = cast("RecordingWriter | None", made)
            except Exception as exc:
                log.error("plugin %s: voiced_recording_writer failed", record.name, exc_info=exc)
                self._report(record, "voiced_recording_writer", one_line(exc))
                continue
            if writer is not None:
                writers.append((record, writer))
        return writers

    def _write(self, record: PluginRecord, writer: RecordingWriter, direction: str, pcm: bytes,
               ts: float) -> None:
        started = time.monotonic()
        try:
            writer.write(direction, pcm, ts)
        except Exception as exc:
            log.error("plugin %s: recording write failed", record.name, exc_info=exc)
            self._report(record, "recording write", one_line(exc))
            return
        took = time.monotonic() - started
        if took > self._slow_write_s:
            self._report(record, "recording write", f"slow: took {took:.2f} s")

    def _close(self) -> None:
        for record, writer in self._writers:
            try:
                writer.close()
            except Exception as exc:
                log.error("plugin %s: closing its recording writer failed", record.name, exc_info=exc)
                self._report(record, "recording close", one_line(exc))
        self._writers = []


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
