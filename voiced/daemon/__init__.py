"""The daemon: its parts, and the wiring that assembles them in one nursery.

`run_daemon` is the entry point (voiced.__main__ calls it). No part imports the wiring:
each receives what it uses when the wiring builds it.
"""

from .wiring import Daemon, Options, run_daemon

__all__ = ["Daemon", "Options", "run_daemon"]
