"""Several rooms on one broker: when more than one voiced wakes on the same utterance, the
one that heard it loudest answers (ties: the lower node id).

Each voiced that wakes publishes a claim with the loudness of the speech that woke it on
`CLAIMS_TOPIC`, and counts every other claim that arrived within `WINDOW_S` of its own,
before or after. All of them see the same claims, so all agree on the winner. A room
further away may only wake later, once more of the sentence has been heard: the winner
answers any claim in the `DEFEND_S` after its own win with an `answering` claim, which
every other claim loses to.
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
DEFEND_S = 5.0


@dataclass(frozen=True)
class RoomClaim:
    node_id: str
    loudness_dbfs: float
    answering: bool = False
    """The room that won this utterance a moment ago, defending it."""

    def payload(self) -> str:
        return json.dumps({"node_id": self.node_id, "loudness_dbfs": self.loudness_dbfs,
                           "answering": self.answering})


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
    return RoomClaim(node, float(loudness), data.get("answering") is True)


def winner(claims: Iterable[RoomClaim]) -> str:
    """The node id that answers: one already answering, else the loudest, then the lowest id."""
    return min(claims, key=lambda claim: (not claim.answering, -claim.loudness_dbfs, claim.node_id)).node_id


class Rooms:
    """The other rooms' recent claims, to weigh ours against."""

    def __init__(self, node_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.node_id = node_id
        self._clock = clock
        self._heard: deque[tuple[float, RoomClaim]] = deque(maxlen=64)
        self._won: tuple[float, RoomClaim] | None = None

    def heard(self, claim: RoomClaim) -> RoomClaim | None:
        """Note another room's claim; returns our defence when we won this utterance just now."""
        if claim.node_id == self.node_id:
            return None
        now = self._clock()
        self._heard.append((now, claim))
        if self._won is None or claim.answering or now - self._won[0] > DEFEND_S:
            return None
        return RoomClaim(self.node_id, self._won[1].loudness_dbfs, answering=True)

    def ours(self, loudness_dbfs: float) -> tuple[RoomClaim, float]:
        """Our claim (as JSON-safe: -inf, digital silence, as a very quiet number) and when it was made."""
        loudness = loudness_dbfs if math.isfinite(loudness_dbfs) else -200.0
        return RoomClaim(self.node_id, loudness), self._clock()

    def won(self, ours: RoomClaim, made_at: float) -> bool:
        """Whether we answer, counting the claims heard within the window around ours."""
        rivals = [claim for at, claim in self._heard if abs(at - made_at) <= WINDOW_S]
        won = winner([ours, *rivals]) == self.node_id
        if won:
            self._won = (self._clock(), ours)
        return won
