"""The one way a client's mistake becomes an `error` event.

Handlers raise :class:`ClientError`; the session turns it into the GA error event
(`invalid_request_error`, with the offending client `event_id`) and carries on, as
the real service does for everything short of a fatal authentication problem.
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """A client event the service refuses: becomes an `error` event, never a close."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


def error_event(
    event_id: str,
    code: str,
    message: str,
    *,
    param: str | None = None,
    client_event_id: str | None = None,
    error_type: str = "invalid_request_error",
) -> dict[str, Any]:
    """Build a GA `error` server event."""
    return {
        "type": "error",
        "event_id": event_id,
        "error": {
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        },
    }
