"""The bus refuses events that are not well formed, and keeps the daemon's listeners."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.voiced.plugin_host.fakes import hosting, make_host
from voiced.bus import Bus, Event
from voiced.control import ClientConnection
from voiced.control.subscriptions import Subscriptions


def queued_types(client: ClientConnection) -> list[str]:
    return [json.loads(client._next_line()[0])["params"]["type"]  # type: ignore[index]
            for _ in range(client.queued_notifications)]


@pytest.mark.parametrize(("type_", "data", "error"), [
    (42, None, TypeError),
    (None, None, TypeError),
    ("", None, ValueError),
    ("has space", None, ValueError),
    ("line\nbreak", None, ValueError),
    ("x" * 201, None, ValueError),
    ("fine.type", ["not", "a", "dict"], TypeError),
])
def test_an_event_that_is_not_well_formed_is_refused_where_it_is_published(
        type_: Any, data: Any, error: type[Exception]) -> None:
    """Guards [S]8: an event type that is not a string reached every listener and broke the
    socket subscribers' stream; now the publisher gets the error and nobody hears it."""
    bus, heard = Bus(), list[Event]()
    bus.listen(heard.append)
    with pytest.raises(error):
        bus.publish(type_, data)
    bus.publish("still.working")
    assert [event.type for event in heard] == ["still.working"]


def test_a_listener_of_the_daemon_that_raises_is_kept() -> None:
    """Guards [S]8: the bus removed a listener after its first exception, so one bad event
    ended a core reaction (or every socket stream) until a restart."""
    bus, heard = Bus(), list[str]()

    def fragile(event: Event) -> None:
        if event.type == "bad":
            raise RuntimeError("one bad event")
        heard.append(event.type)

    bus.listen(fragile)
    bus.publish("bad")
    bus.publish("good")
    assert heard == ["good"]


def test_a_plugin_that_publishes_a_bad_event_is_told_and_the_streams_go_on(tmp_path: Path) -> None:
    """Guards [S]8: a plugin publishing an event whose type is not a string silently ended
    every socket subscriber's stream (the subscriptions' listener was removed)."""
    host, daemon = make_host(tmp_path, {"noisy": """
        from voiced import hookimpl

        errors = []
        deep = []
        for _ in range(5000):
            deep = [deep]

        @hookimpl
        def voiced_startup(daemon):
            for type_, data in [(42, {}), ("noisy.deep", {"x": deep}), ("noisy.nan", {"x": float("nan")})]:
                try:
                    daemon.bus.publish(type_, data)
                except (TypeError, ValueError) as exc:
                    errors.append(str(exc))
            daemon.bus.publish("noisy.hello", {"errors": errors})
    """})
    subscriptions = Subscriptions(daemon.bus)
    client = ClientConnection()
    subscriptions.subscribe(client, ["noisy"])

    async def main() -> None:
        async with hosting(host, daemon):
            pass

    trio.run(main)
    [hello] = daemon.published("noisy.hello")
    refused = hello["errors"]
    assert refused[0] == "an event type is a string, not int"
    assert refused[1].startswith("event noisy.deep: its data is not JSON (maximum recursion depth exceeded")
    assert refused[2].startswith("event noisy.nan: its data is not JSON (Out of range float")
    assert queued_types(client) == ["noisy.hello"]
    daemon.bus.publish("noisy.later")
    assert queued_types(client) == ["noisy.later"]


def test_a_plugins_listener_that_raises_stops_listening_and_nothing_else_does(tmp_path: Path) -> None:
    """Guards [S]8: a plugin's failing listener is the plugin's problem alone."""
    host, daemon = make_host(tmp_path, {"listens": """
        from voiced import hookimpl

        heard = []

        def fragile(event):
            heard.append(event.type)
            raise RuntimeError("fragile")

        @hookimpl
        def voiced_startup(daemon):
            daemon.bus.listen(fragile)

        @hookimpl
        def voiced_shutdown(daemon):
            daemon.bus.publish("listens.heard", {"types": heard})
    """})

    async def main() -> None:
        async with hosting(host, daemon):
            daemon.bus.publish("first")
            daemon.bus.publish("second")

    trio.run(main)
    [heard] = daemon.published("listens.heard")
    assert heard["types"] == ["first"]
    assert [event.type for event in daemon.events] == ["first", "second", "listens.heard"]
