"""The plugin host: discovery, isolated hook calls, per-plugin status (see PLUGINS.md)."""

from .api import (
    BusAPI,
    DaemonAPI,
    RecordingContext,
    RecordingWriter,
    RpcMethod,
    StatusLine,
    Tool,
    VoiceCommandContext,
    WakeContext,
    WakeDetector,
)
from .calling import MAX_FAILURES
from .discovery import PluginRecord
from .host import PluginHost, Timeouts
from .rpc import PLUGIN_ERROR

__all__ = [
    "MAX_FAILURES",
    "PLUGIN_ERROR",
    "BusAPI",
    "DaemonAPI",
    "PluginHost",
    "PluginRecord",
    "RecordingContext",
    "RecordingWriter",
    "RpcMethod",
    "StatusLine",
    "Timeouts",
    "Tool",
    "VoiceCommandContext",
    "WakeContext",
    "WakeDetector",
]
