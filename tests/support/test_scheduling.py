"""The order of a parallel run: each worker's share starts with its part of the long tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.scheduling import long_first, shares


@dataclass
class Item:
    nodeid: str
    seconds: float | None = None

    def get_closest_marker(self, name: str) -> Any:
        return pytest.mark.long(self.seconds).mark if name == "long" and self.seconds else None


def test_shares_are_dealt_as_worksteal_deals_them() -> None:
    assert shares(10, 3) == [3, 3, 4]
    assert shares(2, 3) == [0, 1, 1]
    assert sum(shares(1037, 6)) == 1037


def test_each_share_starts_with_its_long_tests_a_modules_together_the_longest_first() -> None:
    items = [Item(f"t_{n}.py::x") for n in range(8)]
    items[5:5] = [Item("a.py::one", 5), Item("a.py::two", 5)]
    items[2:2] = [Item("b.py::only", 20), Item("c.py::short", 1)]
    order: list[Any] = long_first(items, 3)  # type: ignore[arg-type]
    assert sorted(item.nodeid for item in order) == sorted(item.nodeid for item in items)
    first, second, third = order[0:4], order[4:8], order[8:12]
    assert [item.nodeid for item in first[:1]] == ["b.py::only"]
    assert [item.nodeid for item in second[:2]] == ["a.py::one", "a.py::two"]
    assert [item.nodeid for item in third[:1]] == ["c.py::short"]
    rest = [item.nodeid for item in order if item.seconds is None]
    assert rest == [f"t_{n}.py::x" for n in range(8)], "the others keep their order"


def test_one_process_or_no_long_test_changes_nothing() -> None:
    items = [Item("a.py::x", 5), Item("b.py::y")]
    assert long_first(items, 1) == items  # type: ignore[arg-type]
    plain = [Item("a.py::x"), Item("b.py::y")]
    assert long_first(plain, 4) == plain  # type: ignore[arg-type]
