from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import trio

from tests.plugins.helpers import bundled_alone
from tests.voiced.plugin_host.fakes import hosting


def test_clock_now_tells_the_date_through_the_tools_hook(tmp_path: Path) -> None:
    host, daemon = bundled_alone(tmp_path, "clock")

    async def main() -> None:
        async with hosting(host, daemon):
            session = await host.session_config({"type": "realtime"})
            assert [tool["name"] for tool in session["tools"]] == ["clock_now"]
            local = json.loads(await host.call_tool("clock_now", "{}"))
            assert dt.datetime.fromisoformat(local["iso"]).date() == dt.datetime.now().astimezone().date()
            tokyo = json.loads(await host.call_tool("clock_now", '{"timezone": "Asia/Tokyo"}'))
            assert tokyo["iso"].endswith("+09:00") and tokyo["timezone"] == "Asia/Tokyo"
            mars = json.loads(await host.call_tool("clock_now", '{"timezone": "Mars/Base"}'))
            assert "unknown timezone" in mars["error"]
            # A megabyte of nonsense is not echoed back into the conversation.
            flood = json.dumps({"timezone": "x" * 1_000_000})
            assert len(await host.call_tool("clock_now", flood)) < 300

    trio.run(main)
