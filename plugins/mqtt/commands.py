"""What a payload on a command topic asks for; anything else is refused with a reason.

Home Assistant sends `ON`/`OFF` to a switch, `PRESS` to a button, an option to a select,
a number to a number and the message text to a notify entity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .discovery import LISTEN_MODES

MAX_ANNOUNCEMENT = 1000
"""Characters an announcement may have: a notification, not a book."""


class BadPayload(ValueError):
    """The payload is not one the command takes; the message says why (without the payload)."""


@dataclass(frozen=True)
class Command:
    name: str
    """`paused`, `interrupt`, `wake`, `sleep`, `listen_mode`, `volume` or `announce`."""
    value: bool | int | str | None = None


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPayload("not UTF-8 text") from None


def parse(name: str, payload: bytes) -> Command:
    """The command `payload` on `name`'s topic asks for; BadPayload when it asks nothing valid."""
    text = _text(payload).strip()
    if name == "paused":
        if text not in ("ON", "OFF"):
            raise BadPayload("expected ON or OFF")
        return Command(name, text == "ON")
    if name in ("interrupt", "wake", "sleep"):
        if text != "PRESS":
            raise BadPayload("expected PRESS")
        return Command(name)
    if name == "listen_mode":
        if text not in LISTEN_MODES:
            raise BadPayload(f"expected one of {', '.join(LISTEN_MODES)}")
        return Command(name, text)
    if name == "volume":
        try:
            number = float(text)
        except ValueError:
            raise BadPayload("expected a number 0-100") from None
        if not math.isfinite(number) or not 0 <= number <= 100 or number != round(number):
            raise BadPayload("expected a whole number 0-100")
        return Command(name, round(number))
    if name == "announce":
        if not text or len(text) > MAX_ANNOUNCEMENT or not _printable_lines(text):
            raise BadPayload(f"expected 1-{MAX_ANNOUNCEMENT} printable characters")
        return Command(name, text)
    raise BadPayload(f"no such command: {name}")


def _printable_lines(text: str) -> bool:
    return all(line.isprintable() for line in text.splitlines())
