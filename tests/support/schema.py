"""The schema every event voiced sends must pass, and every event the simulator sends too:
the openai package's GA Realtime types, built on first use (importing them and building
their validators takes half a second of CPU, which every test process would otherwise
pay as it collects the suite)."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter


@functools.cache
def client_events() -> TypeAdapter[Any]:
    """`openai.types.realtime.RealtimeClientEvent`'s validator."""
    from openai.types.realtime import RealtimeClientEvent

    return TypeAdapter(RealtimeClientEvent)


@functools.cache
def server_events() -> TypeAdapter[Any]:
    """`openai.types.realtime.RealtimeServerEvent`'s validator."""
    from openai.types.realtime import RealtimeServerEvent

    return TypeAdapter(RealtimeServerEvent)
