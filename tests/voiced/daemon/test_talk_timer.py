"""`talk --for N`: the timer ends its own turn, and only that one."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from tests.voiced.daemon.test_reload import home, run, running  # noqa: F401  (home: a fixture)

MANUAL = '[audio]\nturn_detection = "manual"\n[assistant]\noutput_modalities = ["text"]\n'
TIMER_S = 0.2


async def past_the_timer() -> None:
    """Sleep past the timer and let every task that was due run (the check is not timed)."""
    await trio.sleep(TIMER_S * 2)
    await trio.testing.wait_all_tasks_blocked(cushion=0.05)


def test_a_new_start_or_stop_cancels_the_pending_timer(home: Path) -> None:  # noqa: F811
    """Guards [S]15: the `talk --for` timer was never cancelled, so it ended a later turn."""

    async def test() -> None:
        async with running(home, MANUAL) as r:
            await r.reach("listening", "the session")
            conversation = r.daemon.current.conversation
            r.daemon.talk(True, TIMER_S)
            r.daemon.talk(False)  # stopped early by hand
            r.daemon.talk(True)  # a later turn, without a timer
            await past_the_timer()
            assert conversation.talking, "the first turn's timer ended the later turn"

            r.daemon.talk(False)
            r.daemon.talk(True, TIMER_S)
            r.daemon.talk(True, TIMER_S * 10)  # a new start: the later time is the one that counts
            await past_the_timer()
            assert conversation.talking

            r.daemon.talk(False)
            r.daemon.talk(True, TIMER_S)
            await past_the_timer()
            assert not conversation.talking, "the timer ends its own turn"

    run(test)
