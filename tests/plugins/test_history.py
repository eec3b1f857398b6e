from __future__ import annotations

import sqlite3
from pathlib import Path

import trio

from tests.plugins.helpers import bundled_alone
from tests.voiced.plugin_host.fakes import hosting, wait_until
from voiced.control import MethodRegistry
from voiced.turns import Turn


def test_turns_are_stored_and_found_by_a_word(tmp_path: Path) -> None:
    host, daemon = bundled_alone(tmp_path, "history")
    registry = MethodRegistry()

    async def main() -> None:
        async with hosting(host, daemon):
            host.register_methods(registry)
            method = registry._methods["history"]
            host.deliver_transcript(Turn("user", "Will it rain in Lisbon tomorrow?", "item_1", "conv_1"))
            host.deliver_transcript(Turn("assistant", "No rain: sunny all day.", "item_2", "conv_1"))
            host.deliver_transcript(Turn("user", "Thanks!", "item_3", "conv_1"))

            async def search(**params: object) -> list[dict[str, object]]:
                return (await method.handler(method.params.model_validate(params), None))["turns"]

            await wait_until(lambda: host.records["history"].failures_total == 0 and len(
                sqlite3.connect(tmp_path / "data" / "history.sqlite3").execute(
                    "SELECT * FROM turns").fetchall()) == 3)
            found = await search(query="LISBON")
            assert [(t["role"], t["item_id"]) for t in found] == [("user", "item_1")]
            assert [t["item_id"] for t in await search(query="rain")] == ["item_2", "item_1"]
            assert [t["item_id"] for t in await search(limit=2)] == ["item_3", "item_2"]
            assert await search(query='" OR * NEAR(') == []

    trio.run(main)
    db = sqlite3.connect(tmp_path / "data" / "history.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
