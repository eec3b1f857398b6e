"""Each subscriber's event stream on its own: one that fails does not end the others."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from voiced.bus import Bus
from voiced.control import ClientConnection
from voiced.control.subscriptions import Subscriptions


class BrokenClient(ClientConnection):
    def notify(self, method: str, params: dict[str, Any]) -> bool:
        raise RuntimeError("this connection is in a bad way")


def test_a_stream_that_fails_does_not_end_the_others(caplog: pytest.LogCaptureFixture) -> None:
    """Guards [S]8: one subscriber's failure ended every subscriber's stream."""
    bus = Bus()
    subscriptions = Subscriptions(bus)
    broken, fine = BrokenClient(), ClientConnection()
    subscriptions.subscribe(broken, [])  # first, so it fails before the other hears the event
    subscriptions.subscribe(fine, [])
    with caplog.at_level(logging.ERROR, logger="voiced.control"):
        bus.publish("state.changed", {"state": "thinking"})
        bus.publish("state.changed", {"state": "listening"})
    assert fine.queued_notifications == 2
    assert len(subscriptions) == 2
    assert "the event stream of" in caplog.text
