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

from voiced.bus import Event
from voiced.turns import Turn

from .api import (
    DaemonAPI,
    RecordingContext,
    RecordingWriter,
    RpcMethod,
    Tool,
    VoiceCommandContext,
    WakeContext,
    WakeDetector,
)

PROJECT = "voiced"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def voiced_startup(daemon: DaemonAPI) -> None:
    """The daemon is starting: keep `daemon` for later, open files, check things."""


@hookspec
def voiced_shutdown(daemon: DaemonAPI) -> None:
    """The daemon is stopping: flush and close what the plugin opened."""


@hookspec
def voiced_event(event: Event) -> None:
    """An event from the bus (`event.type`, `event.data`, `event.ts`); delivered in order, late if slow."""


@hookspec
def voiced_voice_command(text: str, ctx: VoiceCommandContext) -> bool | None:
    """A completed user transcript; return True when the plugin acted on it. The first plugin
    to return True takes the command."""


@hookspec
def voiced_transcript(entry: Turn) -> None:
    """A finished user or assistant turn: role, text, item_id, conversation_id, started_at,
    ended_at, interrupted."""


@hookspec
def voiced_recording_writer(ctx: RecordingContext) -> RecordingWriter | None:
    """Recording is on and a conversation starts: return a writer, or None. Called from the
    recording thread; the writer is closed when the conversation changes, the plugins are
    reloaded or the daemon stops."""


@hookspec
def voiced_tools() -> list[Tool] | None:
    """Functions the model may call. Called once at start-up."""


@hookspec
def voiced_rpc_methods() -> list[RpcMethod] | None:
    """Extra control-socket methods, offered as `NAME.method` (NAME is the plugin's name).
    Called once at start-up."""


@hookspec
def voiced_session_config(session: dict[str, Any]) -> dict[str, Any] | None:
    """The `session.update` payload about to be sent: mutate it, or return a new dict."""


@hookspec
def voiced_wake_detector(ctx: WakeContext) -> WakeDetector | None:
    """Standby begins: return a fresh detector, or None. Called each time standby begins; the
    detector's `close()`, if it has one, is called in the detector's thread when standby ends,
    the plugins are reloaded or the daemon stops."""
