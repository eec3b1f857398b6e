"""Logging like a daemon: syslog priorities under journald, timestamps elsewhere, no secrets."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Iterable
from pathlib import Path

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _JournalFormatter(logging.Formatter):
    """`<6>voiced.audio: message`: journald reads the priority prefix, adds the time itself."""

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6)
        return f"<{priority}>{record.name}: {super().format(record)}"


class Redact(logging.Filter):
    """Replaces any of `secrets` in a message or its traceback with `***`: a last line of
    defence, since nothing should log a secret in the first place."""

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

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            record.msg, record.args = self._clean(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


_redact = Redact()


def redact(secret: str) -> None:
    """Keep `secret` out of every log line from now on (a reload may bring a new key)."""
    _redact.add(secret)


def under_journald() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM"))


def configure(level: str, file_path: Path | None, default_dir: Path, secrets: Iterable[str]) -> None:
    """Send logs to stderr (journald-formatted under systemd) and, off journald, to a file."""
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level.upper())
    for secret in secrets:
        _redact.add(secret)
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
