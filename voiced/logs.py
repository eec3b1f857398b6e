"""Logging like a daemon: syslog priorities under journald, timestamps elsewhere, no secrets."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _JournalFormatter(logging.Formatter):
    """`<6>voiced.audio: message`: journald reads the priority prefix, adds the time itself."""

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6)
        return f"<{priority}>{record.name}: {super().format(record)}"


class Redact(logging.Filter):
    """Replaces any of `secrets` in a message or its traceback with `***`: a last line of
    defence, since nothing should log a secret in the first place.

    `configure` makes every record redacted as it is created, so that any handler (a
    plugin's too) sees the redacted text; as a filter on the daemon's own handlers it also
    covers records made some other way. It never raises: a malformed log call such as
    `log.info("%d", "x")` is logged with what it was given, not a traceback.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        if secret and len(secret) >= 4 and secret not in self.secrets:
            self.secrets.append(secret)

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def _holds_secret(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        self.redact(record)
        return True

    def redact(self, record: logging.LogRecord) -> None:
        """Take the secrets out of `record`'s message, traceback and stack, in place; a
        message that cannot be formatted becomes one that can."""
        try:
            message = record.getMessage()
        except Exception as exc:  # the log call's own mistake: log what it was given
            record.msg = self._clean(f"{_text(record.msg)} {_text(record.args)} (bad log call: {_text(exc)})")
            record.args = None
        else:
            if self._holds_secret(message):
                record.msg, record.args = self._clean(message), None
        if not self.secrets:
            return
        if record.exc_info and not record.exc_text:
            try:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            except Exception:  # exc_info that is no exception: a bad log call again
                record.exc_text = self._clean(f"(bad exc_info: {_text(record.exc_info)})")
                record.exc_info = None
        if record.exc_text and self._holds_secret(record.exc_text):
            record.exc_text = self._clean(record.exc_text)
            record.exc_info = None  # a handler formatting the exception itself would leak it again
        if record.stack_info and self._holds_secret(record.stack_info):
            record.stack_info = self._clean(record.stack_info)


def _text(thing: object) -> str:
    """`str(thing)`, whatever its `__str__` does."""
    try:
        return str(thing)
    except Exception:
        return f"<unprintable {type(thing).__name__}>"


class _RedactingFactory:
    """A LogRecord factory that redacts each record as it is made, around the one it replaces."""

    def __init__(self, make: Callable[..., logging.LogRecord], redact: Redact) -> None:
        self.make = make
        self._redact = redact

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.make(*args, **kwargs)
        self._redact.redact(record)
        return record


_redact = Redact()


def _redact_every_record() -> None:
    if not isinstance(logging.getLogRecordFactory(), _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(logging.getLogRecordFactory(), _redact))


def redact(secret: str) -> None:
    """Keep `secret` out of every log line from now on (a reload may bring a new key)."""
    _redact.add(secret)
    _redact_every_record()


def under_journald() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM"))


def configure(level: str, file_path: Path | None, default_dir: Path, secrets: Iterable[str]) -> None:
    """Send logs to stderr (journald-formatted under systemd) and, off journald, to a file."""
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level.upper())
    for secret in secrets:
        _redact.add(secret)
    _redact_every_record()
    handlers: list[logging.Handler] = []
    stderr = logging.StreamHandler(sys.stderr)
    if under_journald():
        stderr.setFormatter(_JournalFormatter("%(message)s"))
    else:
        stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handlers.append(stderr)
    if file_path is not None or not under_journald():
        path = file_path or default_dir / "voiced.log"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            file = logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=3)
        except OSError as exc:
            print(f"voiced: not logging to {path}: {exc.strerror}", file=sys.stderr)
        else:
            file.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
            handlers.append(file)
    for handler in handlers:
        handler.addFilter(_redact)
        root.addHandler(handler)
    # Third-party chatter at debug level would drown the daemon's own lines.
    for noisy in ("trio-websocket", "trio_websocket", "websockets", "asyncio"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.INFO))
