"""One line of `voicectl doctor`'s report."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Check:
    """One line of the report; ``fix`` says what to do when it failed."""

    check: str
    ok: bool
    detail: str
    fix: str | None = None
