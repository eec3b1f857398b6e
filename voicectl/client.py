"""A small blocking client for the voiced control socket (standard library only).

One request is: connect, send one JSON-RPC line, read lines until the reply with our
id arrives (notifications met on the way are skipped). ``Connection.messages`` yields
every incoming message, for following events; ``send_request`` and ``receive`` serve
a select() loop that reads events and replies as they come (``voicectl attach``).
"""

from __future__ import annotations

import json
import socket

TYPE_CHECKING = False  # the typing module costs ~2 ms to import, and only the checker needs it
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

DEFAULT_TIMEOUT = 30.0


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


class Connection:
    """One connection to voiced; use as a context manager."""

    def __init__(self, path: str, *, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Connect to the socket at ``path``; raises DaemonUnreachable."""
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
            raise DaemonUnreachable(self.path, exc.strerror or str(exc)) from None

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
            if message.get("id") != request_id:
                continue  # a notification (or a stray reply) on the way
            return result_of(message)
        raise DaemonUnreachable(self.path, "voiced closed the connection without answering")


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
