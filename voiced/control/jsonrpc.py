"""JSON-RPC 2.0 framing for the control socket: one JSON object per line, no I/O.

Decisions a client can rely on:

- A line is UTF-8. Bytes that are not UTF-8, or text that is not JSON (including
  ``NaN``/``Infinity``, which Python would otherwise accept, and nesting too deep to
  parse), get a -32700 reply.
- A number that is JSON but has no finite value here (``1e400``, an integer of
  thousands of digits), anywhere in the line, gets a -32600 reply under a ``null`` id.
- An ``id`` is a string of at most ``MAX_ID_CHARS`` characters or a number of at most
  ``MAX_ID_NUMBER`` in size, so that every reply can be written back.
- Batches (a JSON array) are not supported: the whole line gets one -32600 reply.
  One request per line keeps the stream readable with ``socat`` and keeps replies
  in the order of the requests.
- A blank line is ignored, so pressing Enter twice in ``socat`` does no harm.
- A request that is invalid but carries a usable ``id`` gets its error under that
  ``id``; otherwise the ``id`` is ``null``, as the specification says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from voiced import strict_json

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_BUSY = -32000
"""The server takes no more connections (the reply to one over the cap, under a null id)."""

MAX_ID_CHARS = 256
MAX_ID_NUMBER = 2**63 - 1

RequestId = str | int | float | None


class RpcError(Exception):
    """An error a method handler raises to answer the client with a JSON-RPC error.

    Application errors use codes -32000..-32099 and may carry JSON-serialisable
    ``data``; the standard codes above are used by the server itself.
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class BadRequest(RpcError):
    """A line that is not a valid request; ``request_id`` is the id to answer under."""

    def __init__(self, code: int, message: str, request_id: RequestId = None) -> None:
        super().__init__(code, message)
        self.request_id = request_id


@dataclass(frozen=True)
class Request:
    """One parsed request; a notification has no ``id`` member and gets no reply."""

    method: str
    params: dict[str, Any] | list[Any] | None
    id: RequestId = None
    is_notification: bool = False


def _usable_id(message: dict[str, Any]) -> RequestId:
    value = message.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int | float | None):
        return None
    if isinstance(value, str) and len(value) > MAX_ID_CHARS:
        return None
    if isinstance(value, int | float) and abs(value) > MAX_ID_NUMBER:
        return None
    return value


def parse_request(line: bytes) -> Request | None:
    """Parse one line (without its newline) into a request.

    Returns None for a blank line. Raises BadRequest (-32700 or -32600) for anything
    that is not a single valid JSON-RPC 2.0 request.
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(PARSE_ERROR, f"parse error: line is not UTF-8 ({exc.reason})") from None
    if not text.strip():
        return None
    try:
        message = strict_json.loads(text)
    except strict_json.OutOfRange as exc:
        raise BadRequest(INVALID_REQUEST, f"invalid request: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise BadRequest(PARSE_ERROR, f"parse error: {exc}") from None

    if isinstance(message, list):
        raise BadRequest(INVALID_REQUEST, "invalid request: batches are not supported")
    if not isinstance(message, dict):
        raise BadRequest(INVALID_REQUEST, "invalid request: expected a JSON object")
    request_id = _usable_id(message)
    if message.get("jsonrpc") != "2.0":
        raise BadRequest(INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"', request_id)
    if "id" in message and request_id != message["id"]:
        raise BadRequest(
            INVALID_REQUEST,
            f'invalid request: "id" must be a string of at most {MAX_ID_CHARS} characters '
            f"or a number of at most {MAX_ID_NUMBER}",
        )
    method = message.get("method")
    if not isinstance(method, str):
        raise BadRequest(INVALID_REQUEST, 'invalid request: "method" must be a string', request_id)
    params = message.get("params")
    if params is not None and not isinstance(params, dict | list):
        raise BadRequest(
            INVALID_REQUEST, 'invalid request: "params" must be an object or an array', request_id
        )
    return Request(method=method, params=params, id=request_id, is_notification="id" not in message)


def result_response(request_id: RequestId, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_response(request_id: RequestId, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def encode(message: dict[str, Any]) -> bytes:
    """One message as a newline-terminated UTF-8 line.

    Raises TypeError or ValueError if the message is not JSON-serialisable.
    """
    text = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        # A lone surrogate (e.g. an id sent as "\ud800") cannot be UTF-8: escape it instead.
        return json.dumps(message, allow_nan=False, separators=(",", ":")).encode() + b"\n"
