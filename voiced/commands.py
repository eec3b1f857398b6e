"""The control socket's methods: what `voicectl` (or socat) can ask the daemon."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from voiced.audio.duplex import available_devices
from voiced.control import ClientConnection

if TYPE_CHECKING:
    from voiced.daemon import Daemon

SHUTDOWN_GRACE_S = 0.1
"""Time for the `shutdown` reply to leave before the nursery is cancelled."""


def register_commands(daemon: Daemon) -> None:
    """Add the daemon's methods to its registry."""
    methods = daemon.methods

    @methods.method("status")
    async def status(params: None, client: ClientConnection) -> dict[str, Any]:
        """The state, the session, the devices, uptime and counts."""
        return daemon.status()

    @methods.method("pause")
    async def pause(params: None, client: ClientConnection) -> dict[str, Any]:
        """Stop sending microphone audio; what is playing may finish."""
        daemon.apply(daemon.conversation.pause())
        return {"state": daemon.conversation.state.value}

    @methods.method("resume")
    async def resume(params: None, client: ClientConnection) -> dict[str, Any]:
        """Send microphone audio again."""
        daemon.apply(daemon.conversation.resume())
        return {"state": daemon.conversation.state.value}

    @methods.method("interrupt")
    async def interrupt(params: None, client: ClientConnection) -> dict[str, Any]:
        """Stop the assistant now; the server is told how much was heard."""
        actions = daemon.conversation.interrupt()
        daemon.apply(actions)
        return {"interrupted": bool(actions), "state": daemon.conversation.state.value}

    @methods.method("devices")
    async def devices(params: None, client: ClientConnection) -> dict[str, Any]:
        """Every sound device PortAudio reports, and the ones in use."""
        found = await trio.to_thread.run_sync(available_devices)
        return {"devices": found, "in_use": daemon.audio.describe()}

    @methods.method("shutdown")
    async def shutdown(params: None, client: ClientConnection) -> dict[str, Any]:
        """Stop the daemon cleanly."""
        daemon.stop(after_s=SHUTDOWN_GRACE_S)
        return {"stopping": True}
