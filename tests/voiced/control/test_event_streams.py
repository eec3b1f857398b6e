"""Each subscriber's event stream on its own: one that fails does not end the others."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing

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


def test_an_event_too_deep_to_encode_is_dropped_and_the_stream_goes_on() -> None:
    """Guards [S]8/[S]11: data nested past the recursion limit (a server's `rate_limits`,
    say) made encoding raise RecursionError, which ended the subscriber's connection."""
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    client = ClientConnection()
    client.notify("rate_limits.updated", {"rate_limits": deep})
    client.notify("state.changed", {"state": "listening"})
    sent, receive = trio.testing.memory_stream_pair()

    async def main() -> bytes:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.write_outgoing, sent)
            got = b""
            with trio.move_on_after(5):
                while b"\n" not in got:
                    got += await receive.receive_some()
            nursery.cancel_scope.cancel()
        return got

    line = trio.run(main)
    assert b'"state.changed"' in line and b"rate_limits" not in line
