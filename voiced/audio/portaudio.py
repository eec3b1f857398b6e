"""PortAudio, one call at a time.

PortAudio is not thread-safe, yet voiced calls it from several worker threads: a
`devices` request scans the devices while the supervisor reopens them or starts the
output stream. Every call that starts or ends PortAudio, scans its devices, or opens,
starts, stops or closes a stream runs in a function marked `@serialised` (or holds
`lock`). The stream callbacks are PortAudio's own threads and take no part.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, MutableMapping
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

lock = threading.RLock()
"""Reentrant, so a step of several calls (a reopen: terminate, initialise, scan, open,
start) holds it throughout, and nobody's scan slips in between, while the functions it
calls take it too."""


def serialised(function: Callable[P, R]) -> Callable[P, R]:
    """`function`, run holding `lock`: call it from a worker thread, never from trio's."""
    @functools.wraps(function)
    def holding_lock(*args: P.args, **kwargs: P.kwargs) -> R:
        with lock:
            return function(*args, **kwargs)
    return holding_lock


MIXER_PROPERTIES = {
    # The ALSA pulse plugin names its client itself ("ALSA plug-in [python3]"): override it.
    "PULSE_PROP_OVERRIDE": {"application.name": "voiced"},
    # A call's role: the sound server's role ducking lowers music while voiced speaks.
    "PULSE_PROP": {"media.role": "phone", "application.id": "voiced",
                   "application.icon_name": "audio-input-microphone"},
}


def name_streams(environ: MutableMapping[str, str] = os.environ) -> None:
    """Show voiced's streams in the desktop mixer as application "voiced", role "phone".

    libpulse reads `PULSE_PROP` and `PULSE_PROP_OVERRIDE` when a client connects, which
    the ALSA pulse plugin does as PortAudio opens a stream (PipeWire's pulse server reads
    them too); call this before. A property the user already set in either variable wins.
    """
    given = {word.split("=", 1)[0]
             for variable in MIXER_PROPERTIES for word in environ.get(variable, "").split()}
    for variable, properties in MIXER_PROPERTIES.items():
        missing = [f"{key}={value}" for key, value in properties.items() if key not in given]
        if missing:
            environ[variable] = " ".join(filter(None, [environ.get(variable, ""), *missing]))
