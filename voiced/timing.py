"""Timing: a window of recent durations and their percentiles (for status and benchmarks),
and the jittered backoff every reconnecting part uses."""

from __future__ import annotations

import random
import statistics
from collections import deque


def backoff_delay(failures: int, rng: random.Random | None = None, *, first_s: float = 1.0,
                  cap_s: float = 30.0) -> float:
    """Seconds before the next attempt after `failures` in a row: a ceiling doubling from
    `first_s` up to `cap_s`, the delay drawn between half of it and all of it, so that many
    clients do not all knock at once after the same outage."""
    ceiling = min(cap_s, first_s * 2 ** max(0, failures - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


class RecentDurations:
    """The last `size` durations in milliseconds; `summary()` gives p50/p95."""

    def __init__(self, size: int = 500) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, ms: float) -> None:
        self._values.append(ms)

    def __len__(self) -> int:
        return len(self._values)

    def summary(self) -> dict[str, float | int] | None:
        if not self._values:
            return None
        ordered = sorted(self._values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return {"p50": round(statistics.median(ordered), 2), "p95": round(p95, 2), "n": len(ordered)}
