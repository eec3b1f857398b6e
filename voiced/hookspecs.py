"""The hooks a voiced plugin can implement, one short docstring each.

Implementations are marked with ``@voiced.hookimpl`` and may be plain functions or
coroutines (the host awaits coroutines and runs plain functions in a worker thread).
An implementation may take any subset of a hook's arguments, by name. Every call is
isolated: an exception or a timeout is reported against that plugin alone (see
PLUGINS.md for the rules).
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "voiced"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def voiced_startup(daemon: Any) -> None:
    """The daemon is starting: keep `daemon` (a DaemonAPI) for later, open files, check things."""


@hookspec
def voiced_shutdown(daemon: Any) -> None:
    """The daemon is stopping: flush and close what the plugin opened."""


@hookspec
def voiced_event(event: Any) -> None:
    """An event from the bus (`event.type`, `event.data`, `event.ts`); delivered in order, late if slow."""


@hookspec
def voiced_voice_command(text: str, ctx: Any) -> bool | None:
    """A completed user transcript; return True when the plugin acted on it (ctx: daemon, item_id,
    conversation_id). The first plugin to return True takes the command."""


@hookspec
def voiced_transcript(entry: Any) -> None:
    """A finished user or assistant turn: role, text, item_id, conversation_id, started_at,
    ended_at, interrupted."""


@hookspec
def voiced_recording_writer(ctx: Any) -> Any:
    """Recording is on and a conversation starts (ctx: conversation_id, rate, dir): return a
    writer with `write(direction, pcm, ts)` and `close()`, or None. Called from the recording thread."""


@hookspec
def voiced_tools() -> Any:
    """Functions the model may call: a list of `voiced.Tool` (name, description, JSON schema
    parameters, handler). Called once at start-up."""


@hookspec
def voiced_rpc_methods() -> Any:
    """Extra control-socket methods: a list of `voiced.RpcMethod`, offered as `NAME.method`
    (NAME is the plugin's name). Called once at start-up."""


@hookspec
def voiced_session_config(session: dict[str, Any]) -> dict[str, Any] | None:
    """The `session.update` payload about to be sent: mutate it, or return a new dict."""


@hookspec
def voiced_wake_detector(ctx: Any) -> Any:
    """Standby begins (ctx: rate, daemon): return a detector whose `feed(pcm)` returns true to
    wake the assistant (and optionally `close()`), or None."""
