from __future__ import annotations

import json
from pathlib import Path

import trio

from tests.plugins.helpers import bundled_alone
from tests.voiced.plugin_host.fakes import hosting, wait_until
from voiced.turns import Turn


def test_each_turn_is_a_json_line_in_its_conversations_file(tmp_path: Path) -> None:
    host, daemon = bundled_alone(tmp_path, "transcript_log")
    log = tmp_path / "data" / "transcripts" / "conv_1.jsonl"

    async def main() -> None:
        async with hosting(host, daemon):
            host.deliver_transcript(Turn("user", "Weather in Zürich?", "item_1", "conv_1", 1.0, 2.0))
            await wait_until(lambda: log.exists() and log.read_text().count("\n") == 1)
            host.deliver_transcript(Turn("assistant", "Sunny.", "item_2", "conv_1", 2.5, 3.0, True))

    trio.run(main)
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {"role": "user", "text": "Weather in Zürich?", "item_id": "item_1", "conversation_id": "conv_1",
         "started_at": 1.0, "ended_at": 2.0, "interrupted": False},
        {"role": "assistant", "text": "Sunny.", "item_id": "item_2", "conversation_id": "conv_1",
         "started_at": 2.5, "ended_at": 3.0, "interrupted": True},
    ]
