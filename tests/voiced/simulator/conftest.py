"""A Realtime client for the simulator tests: a real WebSocket, every server event checked.

Tests are plain functions that call ``realtime.run(body, **simulator_options)``;
`body` gets the running :class:`Simulator` and its base URL and connects with
``realtime.connect(url)``. Every event the client receives is validated against
``openai.types.realtime.RealtimeServerEvent``, unknown keys included.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pydantic
import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from tests.support.schema import server_events
from voiced.pcm import WIRE_RATE, pcm_bytes
from voiced.simulator import Simulator

#: What the service's session object carries beyond the request schema.
_SESSION_EXTRAS = {"id", "object", "expires_at"}


def pcm(samples: np.ndarray) -> bytes:
    """Float samples in -1..1 as PCM16 LE."""
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def speech_like(before_s: float = 0.5, speech_s: float = 1.0, after_s: float = 1.0) -> bytes:
    """Silence, a -12 dBFS 300 Hz burst, silence: what the energy VAD calls one utterance."""
    t = np.arange(int(speech_s * WIRE_RATE)) / WIRE_RATE
    burst = 0.25 * np.sin(2 * np.pi * 300 * t)
    silence = np.zeros
    return pcm(
        np.concatenate([silence(int(before_s * WIRE_RATE)), burst, silence(int(after_s * WIRE_RATE))])
    )


def assert_server_event(event: dict[str, Any]) -> None:
    """The event is a GA server event with no key the schema does not know."""
    model = server_events().validate_python(event)
    unknown = _unknown_keys(model, "")
    assert not unknown, f"{event['type']}: keys outside the schema: {unknown}"


def _unknown_keys(value: Any, path: str) -> list[str]:
    found: list[str] = []
    if isinstance(value, pydantic.BaseModel):
        extras = set(value.model_extra or {})
        if path.endswith("session."):
            extras -= _SESSION_EXTRAS
        found += [path + key for key in extras]
        for name in type(value).model_fields:
            found += _unknown_keys(getattr(value, name), f"{path}{name}.")
    elif isinstance(value, list):
        for entry in value:
            found += _unknown_keys(entry, path)
    return found


class Client:
    """A GA Realtime client speaking to the simulator."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, event_type: str, **fields: Any) -> None:
        await self.ws.send_message(json.dumps({"type": event_type, **fields}))

    async def send_raw(self, message: str) -> None:
        await self.ws.send_message(message)

    async def append(self, audio: bytes, chunk_ms: int = 40) -> None:
        step = pcm_bytes(chunk_ms)
        for offset in range(0, len(audio), step):
            chunk = base64.b64encode(audio[offset : offset + step]).decode()
            await self.send("input_audio_buffer.append", audio=chunk)

    async def recv(self) -> dict[str, Any]:
        event = json.loads(await self.ws.get_message())
        assert_server_event(event)
        self.events.append(event)
        return event

    async def until(self, event_type: str) -> list[dict[str, Any]]:
        """Receive up to and including the next `event_type`; return what came."""
        seen = []
        while True:
            event = await self.recv()
            seen.append(event)
            if event["type"] == event_type:
                return seen

    async def quiet_for(self, seconds: float) -> list[dict[str, Any]]:
        """Everything that arrives within `seconds`."""
        seen: list[dict[str, Any]] = []
        with trio.move_on_after(seconds):
            while True:
                seen.append(await self.recv())
        return seen


class Realtime:
    """Runs a simulator for one test and connects clients to it (and makes test audio)."""

    pcm = staticmethod(pcm)
    speech_like = staticmethod(speech_like)

    def run(
        self,
        body: Callable[[Simulator, str], Awaitable[None]],
        *,
        timeout: float = 10.0,
        **options: Any,
    ) -> None:
        options.setdefault("speed", 50.0)

        async def main() -> None:
            simulator = Simulator(**options)
            async with trio.open_nursery() as nursery:
                url = await nursery.start(simulator.serve)
                with trio.fail_after(timeout):
                    await body(simulator, url)
                nursery.cancel_scope.cancel()

        trio.run(main)

    @asynccontextmanager
    async def connect(
        self,
        base_url: str,
        *,
        token: str | None = "sk-test",
        headers: list[tuple[bytes, bytes]] | None = None,
        session_created: bool = True,
    ) -> AsyncIterator[Client]:
        url = base_url.replace("http://", "ws://", 1) + "/realtime?model=gpt-realtime"
        extra = list(headers or [])
        if token is not None:
            extra.append((b"Authorization", f"Bearer {token}".encode()))
        async with open_websocket_url(url, extra_headers=extra) as ws:
            client = Client(ws)
            if session_created:
                first = await client.recv()
                assert first["type"] == "session.created"
            yield client


@pytest.fixture
def realtime() -> Realtime:
    return Realtime()
