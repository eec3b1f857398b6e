"""The function names the model sees for the servers' tools."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from voiced.mcp.names import function_name, offered_names

VALID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


def test_a_unique_tool_keeps_its_name_and_a_shared_one_is_prefixed() -> None:
    names = offered_names({"home": ["HassTurnOn", "search"], "notes": ["search", "add_note"]})
    assert names == {"HassTurnOn": ("home", "HassTurnOn"), "home__search": ("home", "search"),
                     "notes__search": ("notes", "search"), "add_note": ("notes", "add_note")}


def test_a_plugin_tool_keeps_its_name() -> None:
    assert offered_names({"clock": ["clock_now", "alarm"]}, taken=["clock_now"]) == {
        "clock__clock_now": ("clock", "clock_now"), "alarm": ("clock", "alarm")}


def test_names_outside_the_rules_are_made_valid_and_stay_apart() -> None:
    assert function_name("files.read/text") == "files_read_text"
    long_a, long_b = "a" * 70 + "1", "a" * 70 + "2"
    assert function_name(long_a) != function_name(long_b)
    assert all(VALID.match(function_name(name)) for name in (long_a, long_b))


@given(st.dictionaries(st.from_regex(r"[A-Za-z0-9_-]{1,24}", fullmatch=True),
                       st.lists(st.text(min_size=1, max_size=90), max_size=5), max_size=4),
       st.lists(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True), max_size=3))
def test_every_offered_name_is_valid_unique_and_free(servers: dict[str, list[str]], taken: list[str]) -> None:
    names = offered_names(servers, taken)
    assert all(VALID.match(name) for name in names)
    assert not set(names) & set(taken)
    assert all(tool in servers[server] for server, tool in names.values())
