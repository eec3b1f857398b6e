"""The control socket: a Unix socket that only the daemon's own user (and root) may use.

Two fences keep other users out: the folder is 0700 and the socket 0600, and every
connection's peer credentials (SO_PEERCRED) are checked, so a loosened folder or
socket still does not let another user in.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat
import struct
from pathlib import Path

import trio

from . import jsonrpc
from .connection import DEFAULT_MAX_QUEUED_NOTIFICATIONS, ClientConnection
from .methods import MethodRegistry

log = logging.getLogger("voiced.control")

MAX_LINE_BYTES = 1024 * 1024
_RECEIVE_BYTES = 64 * 1024
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class ControlSocketError(Exception):
    """The control socket cannot be set up; the message is one line for the user."""


class SocketBusyError(ControlSocketError):
    """Another process (most likely another voiced) is answering on the socket."""


def _peer_credentials(sock: trio.socket.SocketType) -> tuple[int, int, int]:
    return _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))


def _remove_stale_socket(path: Path) -> None:
    """Remove a socket file nobody answers on; raise if something does."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ControlSocketError(f"{path} exists and is not a socket; remove it or choose another")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:
        log.info("removing stale control socket %s", path)
        path.unlink(missing_ok=True)
        return
    except BlockingIOError:
        pass  # a listener with a full backlog: busy, not stale
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ControlSocketError(f"cannot check the existing socket {path}: {exc.strerror}") from None
    finally:
        probe.close()
    raise SocketBusyError(f"another voiced is already running on {path}")


class ControlServer:
    """Serves ``methods`` on the Unix socket at ``path``."""

    def __init__(
        self,
        path: Path,
        methods: MethodRegistry,
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_queued_notifications: int = DEFAULT_MAX_QUEUED_NOTIFICATIONS,
        inherited: socket.socket | None = None,
    ) -> None:
        self.path = Path(path)
        self.inherited = inherited
        """A listening socket handed over by systemd (socket activation): used as it is."""
        self.methods = methods
        self.max_line_bytes = max_line_bytes
        self.max_queued_notifications = max_queued_notifications
        self.clients: set[ClientConnection] = set()

    def _prepare_folder(self) -> None:
        folder = self.path.parent
        if folder.is_dir():
            # Not ours to tighten (it may be $HOME or /tmp); the socket's own 0600 and
            # the peer check still hold.
            if folder.stat().st_mode & 0o077:
                log.debug("control socket folder %s is open to other users", folder)
            return
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)  # mkdir's mode is filtered through the umask

    async def _bind(self) -> trio.socket.SocketType:
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            await sock.bind(str(self.path))
            os.chmod(self.path, 0o600)
            sock.listen(128)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise SocketBusyError(f"another voiced is already running on {self.path}") from None
            raise ControlSocketError(f"cannot listen on {self.path}: {exc.strerror or exc}") from None
        return sock

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen until cancelled, then remove the socket file.

        Reports started once clients can connect. Raises SocketBusyError if another
        process answers on the socket, ControlSocketError for other set-up failures.
        An inherited socket is served as it is; its file belongs to systemd.
        """
        if self.inherited is not None:
            listener = trio.SocketListener(trio.socket.from_stdlib_socket(self.inherited))
            log.info("control socket handed over by systemd")
            task_status.started()
            await trio.serve_listeners(self._serve_client, [listener])
        try:
            self._prepare_folder()
        except OSError as exc:
            raise ControlSocketError(f"cannot create {self.path.parent}: {exc.strerror or exc}") from None
        _remove_stale_socket(self.path)
        sock = await self._bind()
        bound_inode = self.path.stat().st_ino
        try:
            listener = trio.SocketListener(sock)
            log.info("control socket listening on %s", self.path)
            task_status.started()
            await trio.serve_listeners(self._serve_client, [listener])
        finally:
            sock.close()
            # Only remove our own file: another voiced may have replaced it meanwhile.
            try:
                if self.path.stat().st_ino == bound_inode:
                    self.path.unlink()
            except OSError:
                pass

    async def _serve_client(self, stream: trio.SocketStream) -> None:
        async with stream:
            try:
                pid, uid, _ = _peer_credentials(stream.socket)
            except OSError as exc:
                log.warning("control connection refused: no peer credentials (%s)", exc)
                return
            if uid not in (os.geteuid(), 0):
                log.warning("control connection refused from uid %d (pid %d)", uid, pid)
                return
            client = ClientConnection(
                pid=pid, uid=uid, max_queued_notifications=self.max_queued_notifications
            )
            self.clients.add(client)
            log.debug("%s connected", client)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write, client, stream, nursery.cancel_scope)
                    await self._read(client, stream)
                    nursery.cancel_scope.cancel()
            except Exception:
                # A handler's bug must not end the server (trio's serve_listeners would).
                log.exception("%s failed", client)
            finally:
                client.close()
                self.clients.discard(client)
                log.debug("%s disconnected", client)

    async def _write(
        self, client: ClientConnection, stream: trio.SocketStream, scope: trio.CancelScope
    ) -> None:
        try:
            await client.write_outgoing(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            scope.cancel()  # the client is gone: stop reading too

    async def _read(self, client: ClientConnection, stream: trio.SocketStream) -> None:
        """Answer each complete line in order until the client hangs up."""
        buffer = bytearray()
        scanned = 0  # bytes of buffer already known to hold no newline
        discarding = False  # inside a line that was too long, until its newline
        while True:
            try:
                data = await stream.receive_some(_RECEIVE_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return  # an unfinished last line is dropped: the client hung up mid-line
            buffer += data
            while True:
                newline = buffer.find(b"\n", scanned)
                if newline < 0:
                    scanned = len(buffer)
                    if not discarding and len(buffer) > self.max_line_bytes:
                        await self._refuse_long_line(client)
                        discarding = True
                    if discarding:
                        buffer.clear()
                        scanned = 0
                    break
                line = bytes(buffer[:newline]).removesuffix(b"\r")
                del buffer[: newline + 1]
                scanned = 0
                if discarding:
                    discarding = False
                    continue
                if len(line) > self.max_line_bytes:
                    await self._refuse_long_line(client)
                    continue
                reply = await self.methods.answer(line, client)
                if reply is not None:
                    await client.send_reply(reply)

    async def _refuse_long_line(self, client: ClientConnection) -> None:
        log.debug("%s sent a line over %d bytes", client, self.max_line_bytes)
        error = jsonrpc.RpcError(
            jsonrpc.INVALID_REQUEST,
            f"invalid request: line exceeds {self.max_line_bytes // 1024 // 1024} MiB"
            if self.max_line_bytes % (1024 * 1024) == 0
            else f"invalid request: line exceeds {self.max_line_bytes} bytes",
        )
        await client.send_reply(jsonrpc.encode(jsonrpc.error_response(None, error)))
