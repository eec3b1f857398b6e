"""A small blocking client for the voiced control socket (standard library only).

One request is: connect, send one JSON-RPC line, read lines until the reply with our
id arrives (notifications met on the way are skipped). ``Connection.messages`` yields
every incoming message, for following events; ``send_request`` and ``receive`` serve
a select() loop that reads events and replies as they come (``voicectl attach``).

A socket is only used when the process serving it is ours (or root's), as the kernel
tells (SO_PEERCRED): a socket another user put where voiced's should be is refused.
"""

from __future__ import annotations

import json
import os
import socket
import sys

TYPE_CHECKING = False  # the typing module costs ~2 ms to import, and only the checker needs it
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

DEFAULT_TIMEOUT = 30.0
_UCRED_SIZE = 12  # struct ucred: pid, uid, gid, each a C int


class DaemonUnreachable(Exception):
    """voiced cannot be reached at ``path``; ``not_running`` when nothing listens there."""

    def __init__(self, path: str, reason: str, *, not_running: bool = False) -> None:
        super().__init__(f"cannot reach voiced at {path}: {reason}")
        self.path = path
        self.reason = reason
        self.not_running = not_running


class ReadTimeout(DaemonUnreachable):
    """Nothing arrived from voiced within the connection's timeout."""


class DaemonError(Exception):
    """voiced answered a request with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def server_uid(sock: socket.socket) -> int | None:
    """The uid of the process serving the connected Unix socket (None where the system cannot say)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED_SIZE)
    return int.from_bytes(credentials[4:8], sys.byteorder)


class Connection:
    """One connection to voiced; use as a context manager."""

    def __init__(
        self,
        path: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        trusted_uids: tuple[int, ...] | None = None,
    ) -> None:
        """Connect to the socket at ``path``; raises DaemonUnreachable, also when the
        socket is served by a user not in ``trusted_uids`` (default: ours and root)."""
        self.path = path
        self._buffer = b""
        self._next_id = 1
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            self._sock.close()
            reason = "no socket" if isinstance(exc, FileNotFoundError) else "nothing listening"
            raise DaemonUnreachable(path, reason, not_running=True) from None
        except PermissionError:
            self._sock.close()
            raise DaemonUnreachable(path, "permission denied") from None
        except OSError as exc:
            self._sock.close()
            raise DaemonUnreachable(path, exc.strerror or str(exc)) from None
        self._check_server((os.geteuid(), 0) if trusted_uids is None else trusted_uids)

    def _check_server(self, trusted_uids: tuple[int, ...]) -> None:
        try:
            uid = server_uid(self._sock)
        except OSError as exc:
            self._sock.close()
            raise DaemonUnreachable(self.path, f"cannot tell who serves it ({exc.strerror or exc})") from None
        if uid is not None and uid not in trusted_uids:
            self._sock.close()
            raise DaemonUnreachable(
                self.path, f"refusing a socket served by another user (uid {uid}, not you)"
            )

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def settimeout(self, timeout: float | None) -> None:
        """How long a read may wait from now on (None: for ever)."""
        self._sock.settimeout(timeout)

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            self._sock.sendall(line.encode("utf-8"))
        except OSError as exc:
            self._farewell()
            raise DaemonUnreachable(self.path, exc.strerror or str(exc)) from None

    def _farewell(self) -> None:
        """Raise DaemonError with what voiced said before it hung up on us, if it said why
        (too many connections: it answers before our request can arrive)."""
        self._sock.settimeout(0)
        try:
            while data := self._sock.recv(65536):
                self._buffer += data
        except OSError:
            pass
        for message in self.pending():
            if _unaddressed_error(message):
                result_of(message)

    def _read_line(self) -> bytes | None:
        while b"\n" not in self._buffer:
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                raise ReadTimeout(self.path, "no answer in time") from None
            except OSError as exc:
                raise DaemonUnreachable(self.path, exc.strerror or str(exc)) from None
            if not data:
                return None
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _parse(self, line: bytes) -> dict[str, Any] | None:
        try:
            message = json.loads(line)
        except ValueError:
            raise DaemonUnreachable(self.path, "voiced sent a line that is not JSON") from None
        return message if isinstance(message, dict) else None

    def pending(self) -> list[dict[str, Any]]:
        """The messages already read and buffered, without reading more."""
        lines = self._buffer.split(b"\n")
        self._buffer = lines.pop()
        return [message for line in lines if line.strip() and (message := self._parse(line)) is not None]

    def receive(self) -> list[dict[str, Any]] | None:
        """Read once (call it when the socket is readable): the messages that completed.

        None once voiced has closed the connection; raises DaemonUnreachable on errors.
        """
        try:
            data = self._sock.recv(65536)
        except (BlockingIOError, TimeoutError):
            return []
        except OSError as exc:
            raise DaemonUnreachable(self.path, exc.strerror or str(exc)) from None
        if not data:
            return None
        self._buffer += data
        return self.pending()

    def messages(self) -> Iterator[dict[str, Any]]:
        """Every message voiced sends, until it closes the connection."""
        while True:
            line = self._read_line()
            if line is None:
                return
            message = self._parse(line)
            if message is not None:
                yield message

    def send_request(self, method: str, params: dict[str, Any] | list[Any] | None = None) -> int:
        """Send one request without waiting for the reply; returns its id."""
        request_id = self._next_id
        self._next_id += 1
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            request["params"] = params
        self.send(request)
        return request_id

    def call(self, method: str, params: dict[str, Any] | list[Any] | None = None) -> Any:
        """Send one request and return its result; raises DaemonError or DaemonUnreachable."""
        request_id = self.send_request(method, params)
        for message in self.messages():
            # Notifications (and stray replies) on the way are skipped; an error under a
            # null id is voiced turning the connection away (too many connections).
            if message.get("id") == request_id or _unaddressed_error(message):
                return result_of(message)
        raise DaemonUnreachable(self.path, "voiced closed the connection without answering")


def _unaddressed_error(message: dict[str, Any]) -> bool:
    """An error under a null id: voiced could not take the request at all (too many connections)."""
    return "id" in message and message["id"] is None and "error" in message


def result_of(reply: dict[str, Any]) -> Any:
    """The result of a JSON-RPC reply; raises DaemonError if it carries an error."""
    error = reply.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        raise DaemonError(
            code if isinstance(code, int) else 0, str(error.get("message", "")), error.get("data")
        )
    return reply.get("result")


def request(
    path: str,
    method: str,
    params: dict[str, Any] | list[Any] | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> Any:
    """Call one method on the voiced at ``path`` and return its result."""
    with Connection(path, timeout=timeout) as connection:
        return connection.call(method, params)
