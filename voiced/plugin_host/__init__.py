"""The plugin host: discovery, isolated hook calls, per-plugin status (see PLUGINS.md)."""

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
from .discovery import PluginRecord
from .host import MAX_FAILURES, PLUGIN_ERROR, PluginHost, Timeouts

__all__ = [
    "MAX_FAILURES",
    "PLUGIN_ERROR",
    "DaemonAPI",
    "PluginHost",
    "PluginRecord",
    "RecordingContext",
    "RecordingWriter",
    "RpcMethod",
    "Timeouts",
    "Tool",
    "VoiceCommandContext",
    "WakeContext",
    "WakeDetector",
]
