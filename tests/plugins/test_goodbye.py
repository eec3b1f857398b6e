from __future__ import annotations

from pathlib import Path

import pytest
import trio
from voiced_plugins import goodbye

from tests.plugins.helpers import bundled_alone
from tests.voiced.plugin_host.fakes import hosting

PHRASES = ["goodbye", "good bye", "bye bye"]


@pytest.mark.parametrize("text", ["Goodbye", "okay, GOOD-BYE!", "Bye bye.", "thanks... goodbye for now"])
def test_phrases_match_as_whole_words_whatever_the_case(text: str) -> None:
    assert goodbye.matches(text, PHRASES)


@pytest.mark.parametrize("text", ["goodbyes are hard", "bye", "a good byelaw", ""])
def test_other_words_do_not_match(text: str) -> None:
    assert not goodbye.matches(text, PHRASES)


@pytest.mark.parametrize(("action", "call"), [("standby", "standby"), ("pause", "pause"), ("exit", "stop")])
def test_the_action_runs_once_the_farewell_has_played(tmp_path: Path, action: str, call: str) -> None:
    host, daemon = bundled_alone(tmp_path, "goodbye", {"action": action, "phrases": ["see you"]})

    async def main() -> None:
        async with hosting(host, daemon):
            assert not await host.voice_command("goodbye", "item_1")
            assert await host.voice_command("See you!", "item_2")
            assert daemon.calls == []
            daemon.finish_speaking()
            assert daemon.calls == [(call, None)]

    trio.run(main)


def test_an_unknown_action_fails_its_config(tmp_path: Path) -> None:
    host, _ = bundled_alone(tmp_path, "goodbye", {"action": "explode"})
    host.load()
    assert host.records["goodbye"].status == "failed config"
