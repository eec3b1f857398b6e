"""voiced: a voice assistant daemon for the OpenAI Realtime API.

For plugin authors: `hookimpl` marks hook implementations; `Tool` and `RpcMethod`
are what `voiced_tools` and `voiced_rpc_methods` return (see PLUGINS.md).
"""

from voiced.plugin_host.api import RpcMethod, Tool
from voiced.plugin_host.hookspecs import hookimpl

__all__ = ["RpcMethod", "Tool", "hookimpl"]
