"""The drop-in example in PLUGINS.md works as printed."""

from __future__ import annotations

import re
from pathlib import Path

import trio

from tests.voiced.plugin_host.fakes import hosting, make_host
from voiced.config import PluginsConfig, Settings

GUIDE = Path(__file__).resolve().parents[3] / "PLUGINS.md"


def test_the_guides_drop_in_example_works(tmp_path: Path) -> None:
    example = re.search(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert example is not None
    assert len(example.group(1).strip().splitlines()) < 20
    settings = Settings(plugins=PluginsConfig(weather_words={"city": "Porto"}))
    host, daemon = make_host(tmp_path, {"weather_words": example.group(1)}, settings=settings)

    async def main() -> None:
        async with hosting(host, daemon):
            assert not await host.voice_command("hello", "item_1")
            assert await host.voice_command("Umbrella?", "item_2")
            assert daemon.calls == [("say", "Will it rain in Porto today?")]

    trio.run(main)
