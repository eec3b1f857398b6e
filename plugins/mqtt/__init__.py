"""Home Assistant over MQTT: voiced as a device with its state, controls and transcripts.

On when `[mqtt] host` is set (see README "Home Assistant"). Home Assistant finds voiced
through device discovery; the bridge keeps it told of the state, transcripts, volume and
cost, and carries out what it sends on the command topics. The broker is served from a
thread of the bridge's own (`bridge.Bridge`): the daemon never waits on it. The bridge,
and the MQTT client library behind it, are imported only when a host is set.
"""

from __future__ import annotations

import importlib.metadata
import logging
from typing import TYPE_CHECKING

from voiced import hookimpl
from voiced.bus import Event
from voiced.plugin_host import DaemonAPI, StatusLine
from voiced.turns import Turn

if TYPE_CHECKING:
    from .bridge import Bridge

log = logging.getLogger("voiced.plugins.mqtt")

FOLLOWED = ("state.changed", "usage.updated", "error")
"""The events the bridge turns into state."""

status_line: StatusLine | None = None
"""What `voicectl plugins` shows: connected, or why not (None: no `[mqtt] host`)."""

_bridge: Bridge | None = None


def _report(line: StatusLine) -> None:
    global status_line
    status_line = line


def _version() -> str:
    try:
        return importlib.metadata.version("voiced")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@hookimpl
def voiced_startup(daemon: DaemonAPI) -> None:
    global _bridge, status_line
    config = daemon.settings.mqtt
    if config.host is None:
        status_line = None
        return
    from .bridge import Bridge  # paho and the bridge: only with a broker

    _bridge = Bridge(config, daemon, version=_version(), report=_report)
    _bridge.start()  # it hands the daemon its wake arbiter while other rooms are online


@hookimpl
def voiced_shutdown(daemon: DaemonAPI) -> None:
    global _bridge
    if _bridge is not None:
        _bridge.stop()
        daemon.listening.set_arbiter(None)
        _bridge = None


@hookimpl
async def voiced_event(event: Event) -> None:
    # On the daemon's loop: `post` only hands the event to the bridge's loop.
    if _bridge is not None and event.type in FOLLOWED:
        _bridge.post(event.type, event.data)


@hookimpl
async def voiced_transcript(entry: Turn) -> None:
    if _bridge is not None and entry.text:
        from .bridge import MAX_TEXT  # loaded with the bridge

        _bridge.post("transcript", {"event_type": entry.role, "text": entry.text[:MAX_TEXT],
                                    "item_id": entry.item_id, "interrupted": entry.interrupted})
