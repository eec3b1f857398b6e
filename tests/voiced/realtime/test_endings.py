"""Why a session ended, as the daemon and the library both tell it."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from trio_websocket import CloseReason, ConnectionClosed, ConnectionRejected, ConnectionTimeout

from voiced.realtime.endings import (
    ROLLOVER_CODE,
    SessionEnded,
    explain,
    is_rollover,
    keep_alive,
    raise_if_expired,
)
from voiced.realtime.websocket import HandshakeRefused, WebSocketClosed

URL = "wss://api.example/v1/realtime?model=gpt-realtime"
WHERE = "wss://api.example/v1/realtime"


@pytest.mark.parametrize(("exc", "reason", "fatal", "code"), [
    (HandshakeRefused(401), f"{WHERE} refused the connection (HTTP 401)", True, None),
    (ConnectionRejected(403, (), b""), f"{WHERE} refused the connection (HTTP 403)", True, None),
    (HandshakeRefused(503), f"{WHERE} refused the connection (HTTP 503)", False, None),
    (WebSocketClosed(1001, "maximum duration"), "server closed the session (1001: maximum duration)",
     False, 1001),
    (ConnectionClosed(CloseReason(1011, "oops")), "server closed the session (1011: oops)", False, 1011),
    (ConnectionClosed(None), "server closed the session (None)", False, None),
    (ConnectionTimeout(), f"cannot connect to {WHERE}: ConnectionTimeout", False, None),
    (ConnectionRefusedError(111, "Connection refused"), f"cannot connect to {WHERE}: Connection refused",
     False, None),
    (TimeoutError(), f"cannot connect to {WHERE}: TimeoutError", False, None),
])
def test_explain_says_why_in_one_line(exc: BaseException, reason: str, fatal: bool, code: int | None) -> None:
    ended = explain(exc, URL)
    assert ended is not None
    assert (ended.reason, ended.fatal, ended.code) == (reason, fatal, code)


def test_explain_passes_a_session_ended_through_and_leaves_bugs_alone() -> None:
    ended = SessionEnded("mine")
    assert explain(ended, URL) is ended
    assert explain(KeyError("bug"), URL) is None
    assert explain(KeyboardInterrupt(), URL) is None


def test_a_session_expired_error_is_a_rollover() -> None:
    raise_if_expired({"type": "error", "error": {"code": "other"}})
    raise_if_expired({"type": "session.updated", "error": {"code": "session_expired"}})
    raise_if_expired({"type": "error", "error": "session_expired"})
    with pytest.raises(SessionEnded) as ended:
        raise_if_expired({"type": "error", "error": {"code": "session_expired", "message": "60 minutes"}})
    assert is_rollover(ended.value) and ended.value.code == ROLLOVER_CODE
    assert not is_rollover(SessionEnded("lost", code=1006))


def test_keep_alive_pings_until_a_pong_is_late() -> None:
    pings: list[str] = []
    closed: list[str] = []

    async def ping() -> None:
        pings.append("ping")
        if len(pings) == 3:
            await trio.sleep_forever()  # the third pong never comes

    async def on_dead() -> None:
        closed.append("closed")

    async def main() -> None:
        with pytest.raises(SessionEnded, match=r"^no pong within 5 s$"):
            await keep_alive(ping, timeout=5.0, on_dead=on_dead)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert (len(pings), closed) == (3, ["closed"])
