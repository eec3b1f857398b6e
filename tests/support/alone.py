"""Tests that measure time run with no other test beside them, in a parallel run too.

A test marked ``alone`` holds an exclusive lock for its whole run (fixtures included);
every other test holds the same lock shared, so an ``alone`` test waits for the tests
running now and the others wait for it. A turnstile lock keeps a steady stream of shared
holders from starving it. The locks are files in a folder all of the run's processes see.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def hold(folder: Path, alone: bool) -> Iterator[None]:
    """Run the body exclusively (`alone`) or beside any other test but an exclusive one."""
    with (folder / "alone.turnstile").open("a") as turnstile, (folder / "alone.lock").open("a") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            if not alone:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            fcntl.flock(turnstile, fcntl.LOCK_UN)
