"""The order of a parallel run: tests that wait for long first, one worker each.

pytest-xdist's `worksteal` hands each worker a contiguous share of the collected tests,
then lets an idle worker take the back half of a busy one's queue. A test that waits for
seconds (a daemon's backoff, a spoken demo, the documentation's build) that comes late in
its share ends the run alone while the other workers are idle. So the tests marked
`long(seconds)` go to the front of the shares, a module's together (they may share a
module-scoped fixture, like the built site), the longest first onto the least loaded share.
"""

from __future__ import annotations

import os
from itertools import islice

import pytest


@pytest.hookimpl(trylast=True)  # after `-m` has deselected
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """In a parallel run, each worker's share of the tests starts with its long ones."""
    items[:] = long_first(items, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")))


def shares(count: int, workers: int) -> list[int]:
    """How many of `count` tests each of `workers` gets first (as worksteal deals them)."""
    sizes, left = [], count
    for index in range(workers):
        size = left // (workers - index)
        sizes.append(size)
        left -= size
    return sizes


def long_first(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """`items` reordered so that each worker's share starts with its part of the long tests."""
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        if item.get_closest_marker("long") is not None:
            units.setdefault(item.nodeid.split("::")[0], []).append(item)
    if workers < 2 or not units:
        return items
    heads: list[list[pytest.Item]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    for unit in sorted(units.values(), key=lambda unit: (-_seconds(unit), unit[0].nodeid)):
        share = min(range(workers), key=lambda index: (loads[index], index))
        heads[share] += unit
        loads[share] += _seconds(unit)
    chosen = {id(item) for unit in units.values() for item in unit}
    rest = iter([item for item in items if id(item) not in chosen])
    order: list[pytest.Item] = []
    for head, size in zip(heads, shares(len(items), workers), strict=True):
        order += head
        order += islice(rest, max(0, size - len(head)))
    order += rest
    return order


def _seconds(unit: list[pytest.Item]) -> float:
    return sum(float(item.get_closest_marker("long").args[0]) for item in unit)  # type: ignore[union-attr]
