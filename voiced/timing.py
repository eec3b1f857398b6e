"""A window of recent durations and their percentiles, for status and benchmarks."""

from __future__ import annotations

import statistics
from collections import deque


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
