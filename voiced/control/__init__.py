"""The control socket: JSON-RPC 2.0 over a Unix socket, one object per line."""

from .connection import ClientConnection
from .jsonrpc import RpcError
from .methods import MethodRegistry
from .server import ControlServer, ControlSocketError, SocketBusyError, SocketFolderError

__all__ = [
    "ClientConnection",
    "ControlServer",
    "ControlSocketError",
    "MethodRegistry",
    "RpcError",
    "SocketBusyError",
    "SocketFolderError",
]
