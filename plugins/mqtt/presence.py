"""Which other voiced are online on this broker: several rooms are arbitrated only then.

Every bridge keeps a retained entry on `voiced/nodes/<node_id>` naming its availability
topic (`{"availability": "voiced/kitchen/availability"}`), and follows the entries of the
others: it subscribes to each one's availability topic, where that bridge says "online"
and the broker's last will says "offline" when it dies. One last will per connection is
all MQTT allows, so the entry points at the availability topic Home Assistant already
watches instead of holding a second online/offline of its own.
"""

from __future__ import annotations

import json

from voiced.mqtt_config import NODE_ID

from .discovery import OFFLINE, ONLINE

NODES = "voiced/nodes/"
NODES_TOPIC = NODES + "+"
"""What every bridge subscribes to: the entries of all the voiced on the broker."""
MAX_TOPIC = 1024


def node_topic(node_id: str) -> str:
    """Where `node_id` keeps its entry."""
    return NODES + node_id


def node_entry(availability: str) -> str:
    """The retained entry of a bridge whose availability is on `availability`."""
    return json.dumps({"availability": availability})


def availability_of(payload: bytes) -> str | None:
    """The availability topic an entry names, or None for anything else (garbage, wildcards)."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    topic = data.get("availability") if isinstance(data, dict) else None
    if not isinstance(topic, str) or not 0 < len(topic) <= MAX_TOPIC or not topic.endswith("/availability"):
        return None
    if "+" in topic or "#" in topic or "\0" in topic or "" in topic.split("/"):
        return None
    return topic


class Presence:
    """The other voiced nodes on the broker and whether each is online."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self._availability: dict[str, str] = {}
        """node id -> its availability topic"""
        self._online: set[str] = set()

    @property
    def others_online(self) -> list[str]:
        """The other nodes online now, sorted; empty: this voiced is alone and answers at once."""
        return sorted(self._online)

    def listed(self, topic: str, payload: bytes) -> str | None:
        """An entry arrived on `voiced/nodes/<node>`: returns the availability topic to follow
        (None when there is nothing new to follow). An empty or bad entry forgets the node."""
        node = topic.removeprefix(NODES)
        if not topic.startswith(NODES) or not NODE_ID.match(node) or node == self.node_id:
            return None
        availability = availability_of(payload)
        if availability is None:
            self._availability.pop(node, None)
            self._online.discard(node)
            return None
        if self._availability.get(node) == availability:
            return None
        self._availability[node] = availability
        self._online.discard(node)  # until its new availability topic says otherwise
        return availability

    def follows(self, topic: str) -> bool:
        return topic in self._availability.values()

    def available(self, topic: str, payload: bytes) -> bool:
        """An availability message: returns whether the set of nodes online changed."""
        before = set(self._online)
        said = payload.strip()
        for node, availability in self._availability.items():
            if availability != topic:
                continue
            if said == ONLINE.encode():
                self._online.add(node)
            elif said in (OFFLINE.encode(), b""):
                self._online.discard(node)
        return self._online != before

    def forget(self) -> bool:
        """The connection is gone: nobody is known to be online (the broker will tell again)."""
        changed = bool(self._online)
        self._availability.clear()
        self._online.clear()
        return changed
