"""The key never reaches a log line, whoever handles it, and no log call raises."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from voiced import logs

SECRET = "sk-test-0123456789abcdef"


class Collect(logging.Handler):
    """A handler as a plugin would attach one: its own formatter, no filter of ours."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[Path]:
    """`logs.configure` with SECRET as the key; the process's logging is put back afterwards."""
    root = logging.getLogger()
    handlers, level, factory = root.handlers[:], root.level, logging.getLogRecordFactory()
    secrets = logs._redact.secrets[:]
    logs.configure("INFO", None, tmp_path, [SECRET])
    try:
        yield tmp_path / "voiced.log"
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.setLogRecordFactory(factory)
        logs._redact.secrets[:] = secrets


def test_a_malformed_log_call_does_not_raise_where_it_is_made(configured: Path) -> None:
    """Guards [S]10: with a key set, the redaction filter called getMessage() unguarded, so
    `log.info("%d", "x")` raised TypeError in the code that logged."""
    log = logging.getLogger("voiced.test")
    log.info("%d items", "not a number")
    log.error("oops", exc_info=(1, 2, 3))  # type: ignore[arg-type]
    log.info("key %s", SECRET, extra={})
    written = configured.read_text()
    assert "%d items ('not a number',) (bad log call:" in written
    assert "bad exc_info" in written
    assert SECRET not in written and "key ***" in written


def test_a_filter_of_its_own_never_raises() -> None:
    """Guards [S]10: the filter itself, on records that cannot be formatted."""
    redact = logs.Redact([SECRET])

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    for msg, args in [("%d", ("x",)), (Unprintable(), ()), ("%s %s", (SECRET,))]:
        record = logging.LogRecord("voiced", logging.INFO, __file__, 1, msg, args, None)
        assert redact.filter(record)
        assert SECRET not in record.getMessage()


def test_handlers_a_plugin_attaches_see_the_redacted_text(configured: Path) -> None:
    """Guards [S]10: redaction was a filter on the daemon's own handlers only, so a handler
    a plugin attached (to its logger or the root) saw the key."""
    on_plugin_logger, on_root = Collect(), Collect()
    plugin_log = logging.getLogger("voiced.plugins.leaky")
    plugin_log.addHandler(on_plugin_logger)
    logging.getLogger().addHandler(on_root)
    try:
        plugin_log.warning("the key is %s", SECRET)
        try:
            raise ValueError(f"bad key {SECRET}")
        except ValueError:
            plugin_log.exception("failed")
        logging.getLogger("voiced.plugins.leaky").info("at %s", SECRET, stack_info=True)
    finally:
        plugin_log.removeHandler(on_plugin_logger)
        logging.getLogger().removeHandler(on_root)
    for lines in (on_plugin_logger.lines, on_root.lines):
        text = "\n".join(lines)
        assert "the key is ***" in text and "ValueError: bad key ***" in text
        assert SECRET not in text
    assert SECRET not in configured.read_text()
