"""Wake detectors: fresh ones each standby, each closed in its own thread, none left behind."""

from __future__ import annotations

import threading
from pathlib import Path

import trio

from tests.voiced.plugin_host.fakes import hosting, make_host, wait_until
from voiced.pcm import pcm_bytes
from voiced.plugin_host.discovery import PluginRecord
from voiced.plugin_host.wake import GuardedDetector

CLAP = """
    import threading
    from voiced import hookimpl
    made = []
    closed = []

    class Clap:
        def feed(self, pcm):
            return max(pcm) > 100
        def close(self):
            closed.append(threading.current_thread().name)

    @hookimpl
    def voiced_wake_detector(ctx):
        made.append(Clap())
        return made[-1]
"""

FRAME = bytes(pcm_bytes(20))  # 20 ms of silence


def wake_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("voiced wake")]


def test_each_standby_gets_fresh_detectors_closed_in_their_own_thread(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"clap": CLAP})

    async def main() -> None:
        async with hosting(host, daemon):
            plugin = host.records["clap"].plugin
            [first] = await host.wake_detectors()
            [second] = await host.wake_detectors()
            assert first is not second and len(plugin.made) == 2
            first.close()
            await wait_until(lambda: plugin.closed == ["voiced wake clap"])
            assert first.closed and not second.closed
            assert first.feed(bytes([200]) * len(FRAME)) is False  # closed: ignored
            second.close()
            await wait_until(lambda: len(plugin.closed) == 2)

    trio.run(main)


def test_repeated_standbys_leave_no_threads_behind(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"clap": CLAP})

    async def main() -> None:
        before = len(wake_threads())
        async with hosting(host, daemon):
            for _ in range(20):
                [detector] = await host.wake_detectors()
                detector.feed(FRAME)
                detector.close()
                assert await detector.wait_closed(3)
            assert len(wake_threads()) == before
            assert len(host.records["clap"].plugin.closed) == 20

    trio.run(main)


def test_stopping_the_host_closes_the_detectors_still_open_and_hands_out_no_more(tmp_path: Path) -> None:
    host, daemon = make_host(tmp_path, {"clap": CLAP})

    async def main() -> None:
        before = len(wake_threads())
        assert await host.wake_detectors() == []  # not started: none
        async with hosting(host, daemon):
            plugin = host.records["clap"].plugin
            [closed_early] = await host.wake_detectors()
            closed_early.close()
            [left_open] = await host.wake_detectors()
            assert not left_open.closed
        assert left_open.closed
        assert len(plugin.closed) == 2  # each closed once, the early one included
        assert len(wake_threads()) == before
        assert await host.wake_detectors() == []  # stopped: none

    trio.run(main)


def test_a_failing_detector_is_reported_through_the_callable_it_was_given() -> None:
    record = PluginRecord("broken", "drop-in", "broken.py")
    reports: list[tuple[str, str, str]] = []
    done = threading.Event()

    class Broken:
        def feed(self, pcm: bytes) -> bool:
            raise ValueError("no model")

        def close(self) -> None:
            raise OSError("already gone")

    def report(record: PluginRecord, hook: str, error: str) -> None:
        reports.append((record.name, hook, error))
        if hook == "wake detector close":
            done.set()

    detector = GuardedDetector(record, Broken(), report=report, slow_feed_s=1.0, maxsize=4)
    assert detector.feed(FRAME) is False
    detector.close()
    assert done.wait(3)
    assert reports == [("broken", "wake detector", "ValueError: no model"),
                       ("broken", "wake detector close", "OSError: already gone")]
