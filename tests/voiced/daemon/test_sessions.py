"""The session keeper with fakes: backoff, rollover at a quiet moment, replay, fatal errors,
held audio. No network, no sound server; trio's mock clock jumps over the waits."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
import trio.testing

from voiced.conversation import Message
from voiced.daemon.listening import AwakeGate
from voiced.daemon.sessions import (
    BACKOFF_CAP_S,
    HEALTHY_SESSION_S,
    QUIET_BEFORE_ROLLOVER_S,
    REPLAY_TURNS,
    SessionKeeper,
    Target,
    backoff_delay,
)
from voiced.realtime.connection import Outgoing, SessionEnded
from voiced.turns import Turn

ROLLOVER_AFTER_S = 3300.0


@dataclass
class FakeConversation:
    """Records what the keeper tells the conversation."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    error: str | None = None

    def server_event(self, event: dict[str, Any]) -> str | None:
        self.calls.append(("event", event["type"]))
        return self.error

    def session_opened(self, replay: list[Message]) -> None:
        self.calls.append(("opened", replay))

    def session_lost(self, reason: str, *, fatal: bool = False, keep_audio: bool = False) -> None:
        self.calls.append(("lost", reason, fatal, keep_audio))

    def error_cleared(self) -> None:
        self.error = None
        self.calls.append(("cleared",))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[0] == kind]


Script = Callable[[Callable[[dict[str, Any]], None]], Any]
"""What one fake session does once open: an async function given `on_event`."""


class FakeServer:
    """Stands in for `run_session`: each connection plays the next script (the last repeats)."""

    def __init__(self, *scripts: Script | BaseException) -> None:
        self.scripts = list(scripts)
        self.connected_at: list[float] = []

    async def __call__(self, url: str, key: str, *, timeout: float,
                       outbox: trio.MemoryReceiveChannel[Outgoing], on_open: Callable[[], None],
                       on_event: Callable[[dict[str, Any]], None], mic_to_wire: Any) -> None:
        self.connected_at.append(trio.current_time())
        script = self.scripts.pop(0) if len(self.scripts) > 1 else self.scripts[0]
        if isinstance(script, BaseException):
            raise script  # refused before the handshake
        on_open()
        await script(on_event)
        raise SessionEnded("server closed the session (1000)", code=1000)


def answers_then_closes(code: int, after_s: float = 1.0) -> Script:
    async def script(on_event: Callable[[dict[str, Any]], None]) -> None:
        on_event({"type": "response.done"})
        await trio.sleep(after_s)
        raise SessionEnded(f"server closed the session ({code})", code=code)

    return script


def closes_at_once(code: int) -> Script:
    async def script(on_event: Callable[[dict[str, Any]], None]) -> None:
        raise SessionEnded(f"server closed the session ({code})", code=code)

    return script


async def stays_open(on_event: Callable[[dict[str, Any]], None]) -> None:
    await trio.sleep_forever()


@dataclass
class Harness:
    server: FakeServer
    conversation: FakeConversation = field(default_factory=FakeConversation)
    gate: AwakeGate = field(default_factory=lambda: AwakeGate(awake=True))
    turns: list[Turn] = field(default_factory=list)
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    quiet_s: float = 0.0
    prepared: int = 0

    def keeper(self) -> SessionKeeper:
        _, receive = trio.open_memory_channel[Outgoing](10)

        async def prepare() -> None:
            self.prepared += 1

        return SessionKeeper(
            target=lambda: Target("ws://127.0.0.1:9/v1/realtime", "sk-test", 10.0, ROLLOVER_AFTER_S),
            conversing=self.conversation, awake=self.gate, outbox=receive, prepare=prepare,
            finished_turns=lambda: self.turns, publish=lambda kind, data: self.published.append((kind, data)),
            quiet_for=lambda now: self.quiet_s, connect=self.server, clock=trio.current_time,
            rng=random.Random(7))


async def run_for(keeper: SessionKeeper, seconds: float) -> None:
    with trio.move_on_after(seconds):
        await keeper.run()


@asynccontextmanager
async def keeping(keeper: SessionKeeper) -> AsyncIterator[SessionKeeper]:
    """`keeper` runs in the background while the block does."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(keeper.run)
        yield keeper
        nursery.cancel_scope.cancel()


def on_mock_clock(main: Callable[[], Awaitable[None]]) -> None:
    """Run `main` on a clock that jumps over every wait (backoff, timeouts)."""
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(1)
    for failures, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (50, BACKOFF_CAP_S)]:
        delays = [backoff_delay(failures, rng) for _ in range(200)]
        assert min(delays) >= ceiling / 2 and max(delays) <= ceiling
        assert len(set(delays)) > 100, "no jitter"


def test_refused_connections_back_off_and_a_healthy_session_resets_it() -> None:
    refused = SessionEnded("cannot connect", code=None)
    harness = Harness(FakeServer(refused, refused, refused, refused, stays_open))

    async def main() -> None:
        keeper = harness.keeper()
        await run_for(keeper, 60)
        gaps = [b - a for a, b in itertools.pairwise(harness.server.connected_at)]
        assert len(gaps) == 4
        for failures, gap in enumerate(gaps, start=1):
            ceiling = min(BACKOFF_CAP_S, 2 ** (failures - 1))
            assert ceiling / 2 <= gap <= ceiling + 0.01, (failures, gap)
        assert keeper.failures == 4
        assert keeper.opened == 1
        # Every failure before the handshake still hands its reason to the conversation,
        # which keeps the microphone audio for the next session.
        assert harness.conversation.of("lost") == [("lost", "cannot connect", False, True)] * 4

    on_mock_clock(main)


def test_a_session_that_answered_resets_the_backoff() -> None:
    refused = SessionEnded("cannot connect")
    harness = Harness(FakeServer(refused, refused, answers_then_closes(1006), stays_open))

    async def main() -> None:
        keeper = harness.keeper()
        await run_for(keeper, 60)
        assert keeper.failures == 1, "the answered session should have reset the count"
        assert keeper.responses == 1 and keeper.server_events == 1

    on_mock_clock(main)


def test_the_server_rolling_over_a_healthy_session_reconnects_at_once_with_held_audio() -> None:
    harness = Harness(FakeServer(answers_then_closes(1001, after_s=HEALTHY_SESSION_S), stays_open))

    async def main() -> None:
        await run_for(harness.keeper(), 100)
        first, second = harness.server.connected_at
        assert second - first == pytest.approx(HEALTHY_SESSION_S, abs=0.01), "no backoff for a rollover"
        assert ("lost", "server closed the session (1001)", False, True) in harness.conversation.calls
        assert harness.published == [("session.rollover", {"reason": "server closed the session (1001)"})]

    on_mock_clock(main)


def test_a_peer_that_closes_with_1001_at_once_is_not_hammered() -> None:
    harness = Harness(FakeServer(closes_at_once(1001), closes_at_once(1001), stays_open))

    async def main() -> None:
        keeper = harness.keeper()
        await run_for(keeper, 60)
        first, second, third = harness.server.connected_at
        assert second - first >= 0.5 and third - second >= 1.0
        assert harness.published == []

    on_mock_clock(main)


def test_rollover_is_due_only_past_the_age_and_at_a_quiet_moment() -> None:
    harness = Harness(FakeServer(stays_open))

    async def main() -> None:
        async with keeping(harness.keeper()) as keeper:
            await trio.sleep(1)
            opened = keeper.opened_at
            assert opened is not None
            harness.quiet_s = QUIET_BEFORE_ROLLOVER_S
            assert not keeper.due_for_rollover(opened + ROLLOVER_AFTER_S - 1)
            harness.quiet_s = QUIET_BEFORE_ROLLOVER_S - 0.5
            assert not keeper.due_for_rollover(opened + ROLLOVER_AFTER_S + 10), "someone is speaking"
            harness.quiet_s = QUIET_BEFORE_ROLLOVER_S
            assert keeper.due_for_rollover(opened + ROLLOVER_AFTER_S)
            keeper.end("rollover")
            await trio.sleep(1)
            assert len(harness.server.connected_at) == 2, "a planned rollover reconnects at once"
            assert ("lost", "rollover", False, True) in harness.conversation.calls
            assert harness.published == [("session.rollover", {"reason": "session age"})]

    on_mock_clock(main)


def test_a_new_session_replays_the_latest_turns_in_the_order_they_were_spoken() -> None:
    harness = Harness(FakeServer(stays_open))
    harness.turns = [Turn("user" if i % 2 else "assistant", f"turn {i}", f"item_{i}", "conv",
                          started_at=float(i)) for i in range(REPLAY_TURNS + 10)]
    harness.turns.append(Turn("assistant", "", "item_empty", "conv", started_at=10_000.0))
    harness.turns.reverse()  # finished out of order: a late transcript

    async def main() -> None:
        await run_for(harness.keeper(), 1)
        [(_, replay)] = harness.conversation.of("opened")
        assert [m.text for m in replay] == [f"turn {i}" for i in range(11, REPLAY_TURNS + 10)]
        assert all(isinstance(m, Message) for m in replay)

    on_mock_clock(main)


def test_a_fatal_error_stops_retrying_until_reload() -> None:
    refused_key = SessionEnded("server refused the key (HTTP 401)", fatal=True)
    harness = Harness(FakeServer(refused_key, stays_open))

    async def main() -> None:
        async with keeping(harness.keeper()) as keeper:
            await trio.sleep(3600)
            assert len(harness.server.connected_at) == 1, "retried after a fatal error"
            assert harness.conversation.of("lost") == [("lost", refused_key.reason, True, False)]
            keeper.end("reload")
            await trio.sleep(1)
            assert len(harness.server.connected_at) == 2
            assert ("cleared",) in harness.conversation.calls

    on_mock_clock(main)


def test_an_error_the_conversation_finds_fatal_ends_the_session_for_good() -> None:
    async def refuses_quota(on_event: Callable[[dict[str, Any]], None]) -> None:
        harness.conversation.error = "insufficient_quota: no money"
        on_event({"type": "error", "error": {"code": "insufficient_quota"}})

    harness = Harness(FakeServer(refuses_quota, stays_open))

    async def main() -> None:
        await run_for(harness.keeper(), 600)
        assert len(harness.server.connected_at) == 1
        assert harness.conversation.of("lost") == [("lost", "insufficient_quota: no money", True, False)]

    on_mock_clock(main)


def test_session_expired_counts_as_a_rollover() -> None:
    async def expires(on_event: Callable[[dict[str, Any]], None]) -> None:
        on_event({"type": "response.done"})
        on_event({"type": "error", "error": {"code": "session_expired", "message": "60 minutes"}})

    harness = Harness(FakeServer(expires, stays_open))

    async def main() -> None:
        await run_for(harness.keeper(), 10)
        assert len(harness.server.connected_at) == 2
        assert harness.published == [("session.rollover", {"reason": "session expired"})]

    on_mock_clock(main)


def test_standby_closes_the_session_and_keeps_no_audio_until_woken() -> None:
    harness = Harness(FakeServer(stays_open))

    async def main() -> None:
        async with keeping(harness.keeper()) as keeper:
            await trio.sleep(1)
            harness.gate.close()
            keeper.end("standby")
            await trio.sleep(600)
            assert len(harness.server.connected_at) == 1, "connected while in standby"
            assert harness.conversation.of("lost") == [("lost", "standby", False, False)]
            harness.gate.open()
            await trio.sleep(1)
            assert len(harness.server.connected_at) == 2

    on_mock_clock(main)


def test_restart_reconnects_at_once_without_touching_the_new_conversation() -> None:
    harness = Harness(FakeServer(stays_open))

    async def main() -> None:
        async with keeping(harness.keeper()) as keeper:
            await trio.sleep(1)
            keeper.end("restart")
            await trio.sleep(0.1)
            assert len(harness.server.connected_at) == 2
            assert harness.conversation.of("lost") == []
            assert harness.prepared == 2, "each session gets the configuration prepared anew"

    on_mock_clock(main)
