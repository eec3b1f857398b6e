"""`subscribe` names a bounded number of topics, each of bounded length."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.voiced.daemon.test_reload import home, run, running  # noqa: F401  (home: a fixture)
from voiced.control import ClientConnection
from voiced.control.jsonrpc import INVALID_PARAMS, Request
from voiced.daemon.control_methods import MAX_TOPICS

LONGEST = "x" * 200


@pytest.mark.parametrize(("topics", "accepted"), [
    ([f"plugin{i}" for i in range(MAX_TOPICS)], True),
    ([LONGEST], True),
    ([f"plugin{i}" for i in range(MAX_TOPICS + 1)], False),
    ([f"plugin{i}" for i in range(100_000)], False),
    ([LONGEST + "x"], False),
    ([""], False),
])
def test_topics_are_capped(home: Path, topics: list[str], accepted: bool) -> None:  # noqa: F811
    """Guards [S]15: any number of topics of any length were kept for every event to match."""

    async def test() -> None:
        async with running(home) as r:
            client = ClientConnection()
            reply: dict[str, Any] = await r.daemon.methods.call(
                Request("subscribe", {"topics": topics}, id=1), client)
            if accepted:
                assert reply["result"]["topics"] == sorted(topics)
                assert len(r.daemon.subscriptions) == 1
            else:
                assert reply["error"]["code"] == INVALID_PARAMS
                assert len(r.daemon.subscriptions) == 0

    run(test)
