"""The control socket's methods: what `voicectl` (or socat) can ask the daemon.

The daemon (voiced.daemon.wiring) offers them what `Controlled` names: its parts as typed
attributes and the few actions that touch more than one part.
"""

from __future__ import annotations

import os
import time
from typing import Annotated, Any, Literal, Protocol

import trio
from pydantic import BaseModel, ConfigDict, Field

from voiced.audio.duplex import Audio, available_devices
from voiced.bus import MAX_TYPE_LENGTH, Bus
from voiced.config import Settings
from voiced.control import ClientConnection, MethodRegistry, RpcError
from voiced.control.subscriptions import Subscriptions
from voiced.usage import UsageLedger

from .current import CurrentConversation
from .listening import Listening, OverBudget
from .outbox import Counters
from .reactions import Latency, RateLimits
from .sessions import SessionKeeper
from .volume import FULL, Volume

SHUTDOWN_GRACE_S = 0.1
"""Time for the `shutdown` reply to leave before the nursery is cancelled."""

NOT_NOW = -32001
"""Application error: the request is valid but the daemon cannot do it in this state."""


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


MAX_TOPICS = 64
"""Topics a `subscribe` may name; each at most as long as an event type may be (voiced.bus)."""

Topic = Annotated[str, Field(min_length=1, max_length=MAX_TYPE_LENGTH)]


class SubscribeParams(Params):
    topics: list[Topic] = Field(default_factory=list, max_length=MAX_TOPICS,
                                description="event type prefixes; none means all")


class SayParams(Params):
    text: str = Field(min_length=1, max_length=100_000)


class AnnounceParams(Params):
    text: str = Field(min_length=1, max_length=10_000)


class VolumeParams(Params):
    level: int | None = Field(None, ge=0, le=FULL, description="set the volume; none: just tell it")


class TalkParams(Params):
    action: Literal["start", "stop"]
    seconds: float | None = Field(None, gt=0, le=600, description="stop by itself after this long")


class Controlled(Protocol):
    """What the methods use of the daemon."""

    settings: Settings
    bus: Bus
    audio: Audio
    counters: Counters
    current: CurrentConversation
    latency: Latency
    listening: Listening
    rate_limits: RateLimits
    sessions: SessionKeeper
    subscriptions: Subscriptions
    usage: UsageLedger
    volume: Volume
    url: str

    @property
    def state(self) -> str: ...

    @property
    def simulated(self) -> bool: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def interrupt(self) -> bool: ...

    def say(self, text: str) -> None: ...

    def announce(self, text: str) -> None: ...

    def talk(self, start: bool, seconds: float | None = None) -> None: ...

    def restart(self) -> None: ...

    def stop(self, after_s: float = 0.0) -> None: ...


def register_control_methods(methods: MethodRegistry, daemon: Controlled) -> None:
    """Add the daemon's methods to `methods`."""

    @methods.method("status")
    async def status(params: None, client: ClientConnection) -> dict[str, Any]:
        """The state, the session, the devices, uptime and counts."""
        return status_of(daemon)

    @methods.method("pause")
    async def pause(params: None, client: ClientConnection) -> dict[str, Any]:
        """Stop sending microphone audio; what is playing may finish."""
        daemon.pause()
        return {"state": daemon.state}

    @methods.method("resume")
    async def resume(params: None, client: ClientConnection) -> dict[str, Any]:
        """Send microphone audio again."""
        daemon.resume()
        return {"state": daemon.state}

    @methods.method("interrupt")
    async def interrupt(params: None, client: ClientConnection) -> dict[str, Any]:
        """Stop the assistant now; the server is told how much was heard."""
        return {"interrupted": daemon.interrupt(), "state": daemon.state}

    @methods.method("subscribe", SubscribeParams)
    async def subscribe(params: SubscribeParams, client: ClientConnection) -> dict[str, Any]:
        """Receive events as `event` notifications; the reply is a snapshot of now."""
        daemon.subscriptions.subscribe(client, params.topics)
        return snapshot(daemon) | {"topics": sorted(params.topics)}

    @methods.method("unsubscribe")
    async def unsubscribe(params: None, client: ClientConnection) -> dict[str, Any]:
        """Stop receiving events on this connection."""
        return {"unsubscribed": daemon.subscriptions.unsubscribe(client)}

    @methods.method("say", SayParams)
    async def say(params: SayParams, client: ClientConnection) -> dict[str, Any]:
        """A typed user turn: the assistant answers it as if it had been spoken."""
        if not daemon.current.conversation.connected:
            raise RpcError(NOT_NOW, "not connected to the Realtime server", {"state": daemon.state})
        daemon.say(params.text)
        return {"state": daemon.state}

    @methods.method("announce", AnnounceParams)
    async def announce(params: AnnounceParams, client: ClientConnection) -> dict[str, Any]:
        """The assistant says the given text; from standby it wakes for it and goes back."""
        if daemon.current.conversation.error is not None:
            raise RpcError(NOT_NOW, daemon.current.conversation.error, {"state": daemon.state})
        try:
            daemon.announce(params.text)
        except OverBudget as exc:
            raise RpcError(NOT_NOW, str(exc), {"over_budget": True}) from None
        return {"state": daemon.state}

    @methods.method("volume", VolumeParams)
    async def volume(params: VolumeParams, client: ClientConnection) -> dict[str, Any]:
        """The output volume, 0-100; with `level`, set it (kept over restarts)."""
        if params.level is not None:
            daemon.volume.set(params.level)
        return {"level": daemon.volume.level}

    @methods.method("restart")
    async def restart(params: None, client: ClientConnection) -> dict[str, Any]:
        """Start a new conversation (a new session; what was said is forgotten)."""
        daemon.restart()
        return {"conversation_id": daemon.current.id}

    @methods.method("talk", TalkParams)
    async def talk(params: TalkParams, client: ClientConnection) -> dict[str, Any]:
        """Push-to-talk: start or stop a spoken turn (turn_detection = "manual")."""
        if not daemon.current.conversation.manual_turns:
            raise RpcError(NOT_NOW, 'talk needs [audio] turn_detection = "manual"',
                           {"turn_detection": daemon.settings.audio.turn_detection})
        daemon.talk(params.action == "start", params.seconds)
        return {"talking": daemon.current.conversation.talking, "state": daemon.state}

    @methods.method("usage")
    async def usage(params: None, client: ClientConnection) -> dict[str, Any]:
        """Tokens and estimated cost: last turn, this conversation, today; rate limits."""
        return daemon.usage.summary() | {"rate_limits": daemon.rate_limits.latest,
                                         "budget_daily_usd": daemon.settings.budget.daily_usd,
                                         "over_budget": daemon.listening.over_budget}

    @methods.method("wake")
    async def wake(params: None, client: ClientConnection) -> dict[str, Any]:
        """Leave standby and start listening (wake mode)."""
        try:
            woke = daemon.listening.wake("voicectl wake")
        except OverBudget as exc:
            raise RpcError(NOT_NOW, str(exc), {"over_budget": True}) from None
        return {"woke": woke, "state": daemon.state}

    @methods.method("sleep")
    async def sleep(params: None, client: ClientConnection) -> dict[str, Any]:
        """Go to standby: the session closes and nothing is sent until woken."""
        return {"slept": daemon.listening.sleep("voicectl sleep"), "state": daemon.state}

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


def snapshot(daemon: Controlled) -> dict[str, Any]:
    """What a new subscriber needs before the events: where things stand now."""
    return {
        "state": daemon.state,
        "paused": daemon.current.conversation.paused,
        "error": daemon.current.conversation.error,
        "session_id": daemon.current.conversation.session_id,
        "conversation_id": daemon.current.id,
        "current_turns": daemon.current.turns.current,
    }


def status_of(daemon: Controlled) -> dict[str, Any]:
    c, sessions, now = daemon.counters, daemon.sessions, time.monotonic()
    return {
        "state": daemon.state,
        "paused": daemon.current.conversation.paused,
        "error": daemon.current.conversation.error,
        "listen": daemon.listening.describe(),
        "session": {
            "id": daemon.current.conversation.session_id,
            "connected": daemon.current.conversation.connected,
            "age_s": None if (age := sessions.age_s(now)) is None else round(age, 1),
            "url": daemon.url.split("?", 1)[0] if daemon.url else None,
            "model": daemon.settings.api.model,
            "simulated": daemon.simulated,
        },
        "conversation_id": daemon.current.id,
        "devices": daemon.audio.describe(),
        "latency": daemon.latency.turns.summary(),
        "audio_path": {"mic_to_wire_ms": sessions.mic_to_wire.summary(),
                       "delta_to_device_ms": daemon.latency.delta_to_device.summary()},
        "usage_today": daemon.usage.summary()["today"],
        "subscribers": len(daemon.subscriptions),
        "uptime_s": round(now - c.started_at, 1),
        "pid": os.getpid(),
        "counts": {
            "frames_sent": c.frames_sent,
            "frames_dropped": c.frames_dropped,
            "server_events": sessions.server_events,
            "responses": sessions.responses,
            "interruptions": c.interruptions,
            "sessions": sessions.opened,
            "events_published": daemon.bus.published,
        },
    }
