"""ALSA's and JACK's diagnostics, counted instead of printed.

PortAudio's device scan asks ALSA about every PCM its configuration names and tries to
reach a JACK server. On a machine without a sound card or a sound server both libraries
print a screenful to stderr ("ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM
...", "jack server is not running or cannot be started"), which hides the one line that
matters. Both let a program take their messages instead: ALSA through
`snd_lib_error_set_handler`, JACK through `jack_set_error_function` and
`jack_set_info_function`. voiced installs handlers that count them, once per process,
and `scanning()` logs one debug line with what a scan produced.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator

log = logging.getLogger("voiced.audio")

# ALSA's handler is variadic (file, line, function, err, fmt, ...): the fixed arguments are
# all it needs, and a callee may ignore the variadic rest.
_ALSA_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                 ctypes.c_int, ctypes.c_char_p)
_JACK_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p)


class _Heard:
    """What the libraries said since the last `take()`; their threads and ours both touch it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._last: dict[str, str] = {}

    def note(self, library: str, message: bytes | None) -> None:
        with self._lock:
            self._counts[library] += 1
            self._last[library] = (message or b"").decode(errors="replace").strip()

    def take(self) -> str | None:
        """A summary of what was heard, or None; starts counting afresh."""
        with self._lock:
            counts, last = self._counts, self._last
            self._counts, self._last = Counter(), {}
        if not counts:
            return None
        return "; ".join(f"{count} {library} message{'s' * (count != 1)} hidden (last: {last[library]})"
                         for library, count in sorted(counts.items()))


_heard = _Heard()
_handlers: list[object] = []
"""The installed ctypes callbacks: the libraries hold pointers to them for good."""
_installed = threading.Lock()


def hush() -> None:
    """Route ALSA's and JACK's messages to voiced from now on (idempotent, thread-safe), and
    keep JACK from trying to start a server. A library that is not installed is left out."""
    with _installed:
        if _handlers:
            return
        os.environ.setdefault("JACK_NO_START_SERVER", "1")

        def alsa(_file: bytes | None, _line: int, function: bytes | None, _err: int,
                 fmt: bytes | None) -> None:
            _heard.note("ALSA", (function or b"?") + b": " + (fmt or b""))

        def jack(message: bytes | None) -> None:
            _heard.note("JACK", message)

        alsa_handler, jack_handler = _ALSA_HANDLER(alsa), _JACK_HANDLER(jack)
        _handlers.extend([alsa_handler, jack_handler])
        if (asound := _load("libasound.so.2")) is not None:
            asound.snd_lib_error_set_handler(alsa_handler)
        if (libjack := _load("libjack.so.0")) is not None:
            libjack.jack_set_error_function(jack_handler)
            libjack.jack_set_info_function(jack_handler)


@contextlib.contextmanager
def scanning(what: str) -> Iterator[None]:
    """Run a PortAudio call with the libraries hushed; log one debug line with what they said."""
    hush()
    try:
        yield
    finally:
        if (summary := _heard.take()) is not None:
            log.debug("%s: %s", what, summary)


def _load(soname: str) -> ctypes.CDLL | None:
    """The library PortAudio links (the same instance: the dynamic loader shares it)."""
    try:
        return ctypes.CDLL(soname)
    except OSError:
        return None
