"""The daemon's control methods as one set: what `Daemon` registers, and what the docs list."""

from __future__ import annotations

import trio

from voiced.config import Settings
from voiced.control import MethodRegistry
from voiced.mcp.toolbox import Toolbox
from voiced.plugin_host import PluginHost

from .control_methods import Controlled, register_control_methods
from .tool_methods import register_tool_methods


def register_daemon_methods(methods: MethodRegistry, daemon: Controlled, tools: Toolbox) -> None:
    """Add the daemon's own methods to `methods` (the plugin host adds `plugins` and the
    plugins' methods once it has loaded them)."""
    register_control_methods(methods, daemon)
    register_tool_methods(methods, tools)


def described_methods() -> MethodRegistry:
    """The registry of a daemon with the default settings and the bundled plugins, to
    describe (never to call): the daemon's methods, `plugins` and the bundled plugins'."""
    registry = MethodRegistry()
    register_daemon_methods(registry, None, None)  # type: ignore[arg-type]  # described, never called
    host = PluginHost(Settings.model_construct(), dropin_dirs=[])
    trio.run(host.collect_methods)
    host.register_methods(registry)
    return registry
