"""voiced: a voice assistant daemon for the OpenAI Realtime API.

For plugin authors: `hookimpl` marks hook implementations; `Tool` and `RpcMethod`
are what `voiced_tools` and `voiced_rpc_methods` return (see PLUGINS.md).

They are imported on first use, so that a process that needs only a part of voiced
(the simulator, voicectl's config commands) does not pay for the plugin host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voiced.plugin_host.api import RpcMethod, Tool
    from voiced.plugin_host.hookspecs import hookimpl

__all__ = ["RpcMethod", "Tool", "hookimpl"]


def __getattr__(name: str) -> Any:
    if name in ("RpcMethod", "Tool"):
        from voiced.plugin_host import api

        return getattr(api, name)
    if name == "hookimpl":
        from voiced.plugin_host.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'voiced' has no attribute {name!r}")
