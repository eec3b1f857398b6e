"""Shared fixtures. Test helpers live in ``tests/support`` (``tests.support.pulse``, ``.signals``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.pulse import MissingAudioTool, PulseServer


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
