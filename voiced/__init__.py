"""voiced: a voice assistant daemon for the OpenAI Realtime API.

For plugin authors: `hookimpl` marks hook implementations; `Tool` and `RpcMethod`
are what `voiced_tools` and `voiced_rpc_methods` return (see PLUGINS.md).
"""

from voiced.hookspecs import hookimpl
from voiced.plugin_host.api import RpcMethod, Tool

__all__ = ["RpcMethod", "Tool", "hookimpl"]
