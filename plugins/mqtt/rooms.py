"""Several rooms on one broker: when more than one voiced wakes on the same utterance, the
one that heard it loudest answers (ties: the lower node id).

Each voiced that wakes publishes a claim with the loudness of the speech that woke it on
`CLAIMS_TOPIC`, and counts every other claim that arrived within `WINDOW_S` of its own,
before or after. All of them see the same claims, so all agree on the winner.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from voiced.mqtt_config import NODE_ID

CLAIMS_TOPIC = "voiced/claims"
WINDOW_S = 1.0


@dataclass(frozen=True)
class RoomClaim:
    node_id: str
    loudness_dbfs: float

    def payload(self) -> str:
        return json.dumps({"node_id": self.node_id, "loudness_dbfs": self.loudness_dbfs})


def parse_claim(payload: bytes) -> RoomClaim | None:
    """A claim another voiced published, or None for anything else."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    node, loudness = data.get("node_id"), data.get("loudness_dbfs")
    if not isinstance(node, str) or not NODE_ID.match(node):
        return None
    if isinstance(loudness, bool) or not isinstance(loudness, int | float) or math.isnan(loudness):
        return None
    return RoomClaim(node, float(loudness))


def winner(claims: Iterable[RoomClaim]) -> str:
    """The node id that answers: the loudest, then the lowest id."""
    return min(claims, key=lambda claim: (-claim.loudness_dbfs, claim.node_id)).node_id


class Rooms:
    """The other rooms' recent claims, to weigh ours against."""

    def __init__(self, node_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.node_id = node_id
        self._clock = clock
        self._heard: deque[tuple[float, RoomClaim]] = deque(maxlen=64)

    def heard(self, claim: RoomClaim) -> None:
        if claim.node_id != self.node_id:
            self._heard.append((self._clock(), claim))

    def ours(self, loudness_dbfs: float) -> tuple[RoomClaim, float]:
        """Our claim (as JSON-safe: -inf, digital silence, as a very quiet number) and when it was made."""
        loudness = loudness_dbfs if math.isfinite(loudness_dbfs) else -200.0
        return RoomClaim(self.node_id, loudness), self._clock()

    def won(self, ours: RoomClaim, made_at: float) -> bool:
        """Whether we answer, counting the claims heard within the window around ours."""
        rivals = [claim for at, claim in self._heard if abs(at - made_at) <= WINDOW_S]
        return winner([ours, *rivals]) == self.node_id
