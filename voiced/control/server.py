"""The control socket: a Unix socket that only the daemon's own user (and root) may use.

Fences, outermost first: the socket's folder must be the user's own with no group or
other bits (a symlink, another user's folder or an open one is refused at start-up);
the socket is 0600; and every connection's peer credentials (SO_PEERCRED) are
checked, so a loosened socket still does not let another user in. A lock beside the
socket (``control.sock.lock``), held while voiced serves, keeps two daemons from
racing over a stale socket file. Same-user clients are bounded too: at most
``max_connections`` at once, and one that sends nothing for ``idle_timeout_s`` and
is not subscribed is closed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import math
import os
import socket
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

import trio

from voicectl.runtime_dir import private_folder_problem

from . import jsonrpc
from .connection import DEFAULT_MAX_QUEUED_NOTIFICATIONS, ClientConnection
from .methods import MethodRegistry

log = logging.getLogger("voiced.control")

MAX_LINE_BYTES = 1024 * 1024
MAX_CONNECTIONS = 128
IDLE_TIMEOUT_S = 300.0
_RECEIVE_BYTES = 64 * 1024
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class ControlSocketError(Exception):
    """The control socket cannot be set up; the message is one line for the user."""


class SocketBusyError(ControlSocketError):
    """Another process (most likely another voiced) is answering on the socket."""


class SocketFolderError(ControlSocketError):
    """The socket's folder is not private to the user; trying again will not help."""


def _peer_credentials(sock: trio.socket.SocketType) -> tuple[int, int, int]:
    return _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))


def _prepare_folder(folder: Path) -> None:
    """Create the socket's folder (0700) if it is missing; refuse one that is not private."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ControlSocketError(f"cannot create {folder}: {exc.strerror or exc}") from None
    else:
        # mkdir's mode went through the umask; through a descriptor, so a symlink
        # swapped in meanwhile is not followed.
        with contextlib.suppress(OSError):
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                os.fchmod(fd, 0o700)
            finally:
                os.close(fd)
    problem = private_folder_problem(str(folder))
    if problem is not None:
        raise SocketFolderError(
            f"control socket folder {folder} {problem}: it must be your own folder, not a "
            "symlink, with no access for group or others (or choose another --socket)"
        )


@contextlib.contextmanager
def _socket_lock(path: Path) -> Iterator[None]:
    """Hold the lock of the socket at ``path``: one voiced a socket, from the stale check
    to the end. Raises SocketBusyError if another process holds it."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ControlSocketError(f"cannot open the lock {lock_path}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SocketBusyError(f"another voiced is already running on {path}") from None
        except OSError as exc:
            raise ControlSocketError(f"cannot lock {lock_path}: {exc.strerror or exc}") from None
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays, so nobody locks a replaced one


def _remove_stale_socket(path: Path) -> None:
    """Remove a socket file nobody answers on; raise if something does.

    Called with the lock held, so no other voiced can bind between the probe and the unlink.
    """
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
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        inherited: socket.socket | None = None,
    ) -> None:
        self.path = Path(path)
        self.inherited = inherited
        """A listening socket handed over by systemd (socket activation): used as it is."""
        self.methods = methods
        self.max_line_bytes = max_line_bytes
        self.max_queued_notifications = max_queued_notifications
        self.max_connections = max_connections
        self.idle_timeout_s = idle_timeout_s
        self.clients: set[ClientConnection] = set()
        self._refused = 0  # connections refused since the last one that was let in

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

        Reports started once clients can connect. Raises SocketFolderError for a folder
        that is not private, SocketBusyError if another process holds the lock or
        answers on the socket, ControlSocketError for other set-up failures. An
        inherited socket is served as it is: its file and folder belong to systemd.
        """
        if self.inherited is not None:
            listener = trio.SocketListener(trio.socket.from_stdlib_socket(self.inherited))
            log.info("control socket handed over by systemd")
            task_status.started()
            await trio.serve_listeners(self._serve_client, [listener])
            return  # never reached: serving ends by cancellation
        _prepare_folder(self.path.parent)
        with _socket_lock(self.path):
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
                # Only remove our own file: something that ignores the lock may have replaced it.
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
            if len(self.clients) >= self.max_connections:
                await self._refuse_busy(stream, pid)
                return
            self._refused = 0
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

    async def _refuse_busy(self, stream: trio.SocketStream, pid: int) -> None:
        """Say why, in one line, to a connection over the cap, and hang up."""
        self._refused += 1
        if self._refused == 1:  # once per crowd, not once per connection
            log.warning("control connection refused (pid %d): already %d connections",
                        pid, self.max_connections)
        error = jsonrpc.RpcError(
            jsonrpc.SERVER_BUSY, f"too many connections (at most {self.max_connections}); try again later"
        )
        with trio.move_on_after(1), contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(jsonrpc.encode(jsonrpc.error_response(None, error)))

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
            # A subscriber may rightly stay quiet for ever; anyone else is hung up on.
            with trio.move_on_after(math.inf if client.subscribed else self.idle_timeout_s) as idle:
                try:
                    data = await stream.receive_some(_RECEIVE_BYTES)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
            if idle.cancelled_caught:
                log.debug("%s sent nothing for %g s: closing it", client, self.idle_timeout_s)
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
