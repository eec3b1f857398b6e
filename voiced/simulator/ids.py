"""Identifiers shaped like the service's (`event_…`, `item_…`, `resp_…`).

Unique per process so that the event log of several sessions never mixes them up.
"""

from __future__ import annotations

import itertools
import secrets

_counter = itertools.count(1)
_run = secrets.token_hex(3)


def new_id(prefix: str) -> str:
    """Return a fresh id such as ``item_3fa2c1000017``."""
    return f"{prefix}_{_run}{next(_counter):06d}"
