"""The output volume: a level 0-100 the user sets, a gain on playback, kept over restarts.

The level is written to a small JSON file in the data folder by a task of its own, so a
change returns at once; the playback reads the gain in its callback (one float, no lock).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import trio

log = logging.getLogger("voiced")

FULL = 100


def gain_for(level: int) -> float:
    """The amplitude factor of a level: squared, so the steps sound about even (0 is silence)."""
    return (max(0, min(FULL, level)) / FULL) ** 2


def read_level(path: Path) -> int:
    """The level kept in `path`; full volume when there is none or it cannot be read."""
    try:
        level = json.loads(path.read_text())["level"]
    except FileNotFoundError:
        return FULL
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("ignoring the saved volume in %s (%s)", path, exc)
        return FULL
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= FULL:
        log.warning("ignoring the saved volume in %s (not a level 0-100)", path)
        return FULL
    return level


def write_level(path: Path, level: int) -> None:
    """Replace `path` atomically with the level."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"level": level}) + "\n")
    os.replace(temporary, path)


class Volume:
    """The level in force; `apply(gain)` hands each new one to the playback."""

    def __init__(self, path: Path, apply: Callable[[float], None]) -> None:
        self.path = path
        self.level = FULL
        self._apply = apply
        self._changed = trio.Event()

    def set(self, level: int) -> None:
        """Apply `level` now; it is saved in the background. ValueError outside 0-100."""
        if not 0 <= level <= FULL:
            raise ValueError(f"volume must be 0-100, not {level}")
        self.level = level
        self._apply(gain_for(level))
        self._changed.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Load the saved level, apply it, then save each change (the latest one wins)."""
        self.level = await trio.to_thread.run_sync(read_level, self.path)
        self._apply(gain_for(self.level))
        task_status.started()
        while True:
            await self._changed.wait()
            self._changed = trio.Event()
            try:
                await trio.to_thread.run_sync(write_level, self.path, self.level)
            except OSError as exc:
                log.warning("cannot save the volume in %s: %s", self.path, exc.strerror or exc)
