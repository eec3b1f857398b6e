"""Shared fixtures. Test helpers live in ``tests/support`` (``tests.support.pulse``, ``.signals``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import rewriting
from tests.support.headless import VIRTUAL_DEVICES, no_sound
from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env
from tests.support.pulse import MissingAudioTool, PulseServer

pytest_plugins = ["tests.support.scheduling"]  # a parallel run starts the `long` tests first

AUDIO_FIXTURES = frozenset({"pulse"})
"""The fixtures that start the suite's PulseAudio server; every other fixture that needs
it (``daemon``, ``start_voiced``, ...) depends on one of these."""


LIVE_FIXTURES = frozenset({"simulator", "daemon", "start_voiced", "processes", "virtual_sound"})
"""The fixtures that start real voiced and simulator processes (a few seconds a test)."""


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by `-m`
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `audio` every test whose fixture closure reaches the sound server, so that
    ``-m "not audio"`` can never run one by mistake nor a new test forget the mark; and
    `live` every one that starts real processes through the fixtures."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if AUDIO_FIXTURES.intersection(fixtures):
            item.add_marker(pytest.mark.audio)
        if LIVE_FIXTURES.intersection(fixtures):
            item.add_marker(pytest.mark.live)


def pytest_configure(config: pytest.Config) -> None:
    """Where bytecode is not written, a parallel run's controller rewrites the test modules
    for pytest's asserts once for all its workers (tests.support.rewriting)."""
    if hasattr(config, "workerinput"):
        rewriting.use(config)
    elif sys.dont_write_bytecode and (config.getoption("numprocesses", None) or 0) > 0:
        rewriting.prepare(config)


FAST_LOOP_WORKERS = min(3 * (os.cpu_count() or 1), 16)
"""Test processes for a run without the audio tests (`-m "not audio"`): its tests mostly
wait on real voiced and simulator processes, so three a core keep the machine busy; each
collects the whole suite first (one to two CPU-seconds), so not more."""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """How many processes `-n auto` (pytest's default here, see pyproject.toml) runs:
    `FAST_LOOP_WORKERS` when `-m` leaves out every audio test, else none (one process).
    Audio tests are timed against a real sound server: they run alone, one at a time."""
    try:
        from _pytest.mark.expression import Expression

        expression = Expression.compile(config.option.markexpr or "audio")
        audio_runs = any(expression.evaluate(_has_marks(marks)) for marks in ({"audio"}, {"audio", "live"}))
    except Exception:  # pytest changed its private API: be safe, run in one process
        audio_runs = True
    return 0 if audio_runs else FAST_LOOP_WORKERS


def _has_marks(marks: set[str]) -> Callable[..., bool]:
    """A `-m` expression's matcher for a test with these marks."""
    return lambda name, /, **_: name in marks


@pytest.fixture(scope="session")
def pulse() -> Iterator[PulseServer]:
    """A private PulseAudio server with the ``voiced_mic`` and ``voiced_speaker`` null sinks.

    A missing tool fails the tests that need it (with the apt-get line), rather than
    skipping them, so a CI image without audio packages cannot pass silently.
    """
    try:
        server = PulseServer().start()
    except MissingAudioTool as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def virtual_sound(tmp_path: Path) -> dict[str, str]:
    """For a daemon on virtual `null` devices with no sound server, what `pulse.env` is for
    one on the suite's PulseAudio: `daemon_env(virtual_sound, simulator)`."""
    return {**no_sound(tmp_path), **VIRTUAL_DEVICES}


@pytest.fixture
def simulator(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SimulatorProcess]:
    """`python -m voiced.simulator --strict` for this test; fails the test if the daemon
    sent it any invalid event. `@pytest.mark.script({...})` gives its script and
    `@pytest.mark.simulator_args(...)` extra flags."""
    script = request.node.get_closest_marker("script")
    extra = request.node.get_closest_marker("simulator_args")
    sim = SimulatorProcess(tmp_path, script.args[0] if script else None, *(extra.args if extra else ()))
    try:
        yield sim
    finally:
        sim.stop()
    invalid = sim.invalid_events()
    assert not invalid, f"the daemon sent invalid events: {invalid[:3]}"


@pytest.fixture
def daemon(tmp_path: Path, simulator: SimulatorProcess,
           request: pytest.FixtureRequest) -> Iterator[DaemonProcess]:
    """A real `voiced` talking to this test's simulator, listening when the test starts;
    `@pytest.mark.daemon_config("...")` gives its TOML. It plays and hears through the
    suite's PulseAudio when the test asks for `pulse` too, else on virtual `null` devices
    with no sound server (and the test runs in the fast loop, `-m "not audio"`)."""
    config = request.node.get_closest_marker("daemon_config")
    sound = request.getfixturevalue("pulse" if "pulse" in request.fixturenames else "virtual_sound")
    sound = sound.env if isinstance(sound, PulseServer) else sound
    process = DaemonProcess(tmp_path, daemon_env(sound, simulator),
                            config=config.args[0] if config else None)
    try:
        yield process
    finally:
        process.terminate()


@pytest.fixture
def processes() -> Iterator[list[SimulatorProcess | DaemonProcess]]:
    """Processes a test starts itself (append them); stopped at the end, daemons first,
    and every simulator among them checked for invalid events from the daemon."""
    running: list[SimulatorProcess | DaemonProcess] = []
    yield running
    for process in [p for p in running if isinstance(p, DaemonProcess)]:
        process.terminate()
    for process in [p for p in running if isinstance(p, SimulatorProcess)]:
        process.stop()
        assert not process.invalid_events(), "the daemon sent invalid events"
