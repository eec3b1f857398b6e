"""Which other voiced are online: entries on `voiced/nodes/<node>`, followed availability."""

from __future__ import annotations

import pytest

from plugins.mqtt.presence import Presence, availability_of, node_entry, node_topic

HALL = "voiced/hall/availability"


def hall_online(presence: Presence) -> None:
    assert presence.listed(node_topic("hall"), node_entry(HALL).encode()) == HALL
    assert presence.available(HALL, b"online")


def test_a_node_online_then_gone_through_its_last_will() -> None:
    presence = Presence("kitchen")
    assert presence.others_online == []
    hall_online(presence)
    assert presence.others_online == ["hall"]
    assert presence.available(HALL, b"offline"), "the last will changes who is online"
    assert presence.others_online == []
    assert presence.available(HALL, b"online") and presence.others_online == ["hall"], "back again"


def test_the_same_entry_again_is_not_followed_twice_and_this_node_is_never_counted() -> None:
    presence = Presence("kitchen")
    hall_online(presence)
    assert presence.listed(node_topic("hall"), node_entry(HALL).encode()) is None
    assert presence.others_online == ["hall"]
    mine = "voiced/kitchen/availability"
    assert presence.listed(node_topic("kitchen"), node_entry(mine).encode()) is None
    assert not presence.follows(mine)


def test_a_cleared_entry_forgets_the_node_and_a_moved_one_waits_for_its_new_topic() -> None:
    presence = Presence("kitchen")
    hall_online(presence)
    moved = "home/hall/availability"
    assert presence.listed(node_topic("hall"), node_entry(moved).encode()) == moved
    assert presence.others_online == []
    assert not presence.available(HALL, b"online"), "its old topic no longer counts"
    assert presence.available(moved, b"online") and presence.others_online == ["hall"]
    assert presence.listed(node_topic("hall"), b"") is None
    assert presence.others_online == [] and not presence.follows(moved)


def test_a_lost_connection_forgets_everyone() -> None:
    presence = Presence("kitchen")
    hall_online(presence)
    assert presence.forget()
    assert presence.others_online == [] and not presence.follows(HALL)
    assert not presence.forget()


def test_garbage_availability_changes_nothing() -> None:
    presence = Presence("kitchen")
    hall_online(presence)
    assert not presence.available(HALL, b"\xffmaybe")
    assert presence.others_online == ["hall"]


@pytest.mark.parametrize("payload", [b"", b"\xff", b"[]", b"online", b'{"availability": 3}',
                                     b'{"availability": "voiced/+/availability"}',
                                     b'{"availability": "voiced//availability"}',
                                     b'{"availability": "voiced/hall/pause/set"}'])
def test_bad_entries_are_ignored(payload: bytes) -> None:
    assert availability_of(payload) is None
    assert Presence("kitchen").listed(node_topic("hall"), payload) is None


def test_entries_of_bad_node_ids_are_ignored() -> None:
    assert Presence("kitchen").listed(node_topic("Hall Room"), node_entry(HALL).encode()) is None
