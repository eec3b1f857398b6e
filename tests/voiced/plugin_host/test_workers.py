"""The queue worker the recording and wake detector threads share."""

from __future__ import annotations

import threading

import trio

from voiced.plugin_host.workers import QueueWorker


def test_items_are_handled_in_order_then_finish_runs_in_the_thread() -> None:
    handled: list[int] = []
    finished: list[str] = []

    async def main() -> None:
        worker = QueueWorker[int]("voiced test", 8, handled.append,
                                  lambda: finished.append(threading.current_thread().name))
        for n in range(5):
            assert worker.offer(n)
        worker.stop()
        assert await worker.join(3)

    trio.run(main)
    assert handled == [0, 1, 2, 3, 4]
    assert finished == ["voiced test"]


def test_a_full_queue_refuses_items_and_still_lets_stop_through() -> None:
    busy = threading.Event()
    release = threading.Event()
    handled: list[int] = []
    finished = threading.Event()

    def slow(item: int) -> None:
        busy.set()
        release.wait(3)
        handled.append(item)

    async def main() -> None:
        worker = QueueWorker[int]("voiced test", 2, slow, finished.set)
        assert worker.offer(0)
        assert busy.wait(3)  # the thread holds 0 and waits: the queue is empty
        assert worker.offer(1) and worker.offer(2)
        assert not worker.offer(3)  # full: refused, never waited for
        worker.stop()  # returns at once though the queue is full
        release.set()
        assert await worker.join(3)

    trio.run(main)
    assert finished.is_set()
    assert handled == [0, 2]  # the oldest queued item gave way to the stop


def test_a_handler_bug_does_not_end_the_thread() -> None:
    handled: list[int] = []

    def picky(item: int) -> None:
        if item == 1:
            raise RuntimeError("bug")
        handled.append(item)

    async def main() -> None:
        worker = QueueWorker[int]("voiced test", 8, picky, lambda: None)
        for n in range(3):
            worker.offer(n)
        worker.stop()
        assert await worker.join(3)

    trio.run(main)
    assert handled == [0, 2]
