"""Whether the sound server still has the sink and source voiced plays to and hears from.

Through ALSA's pulse plugin PortAudio never learns that a device went away: when a
sink or source is removed, PulseAudio (15 and later, and PipeWire's pulse server)
moves the streams on it to another device and moves them back when a device of the
same name returns. The streams keep running, so the only way to tell that the
headset is gone (and that the assistant now speaks into whatever became the
fallback) is to ask the server. This module does that with libpulse through ctypes:
one connection, two "does this device exist" queries per check, no polling thread.

The devices watched are the ones the pulse plugin connects to: `PULSE_SINK` and
`PULSE_SOURCE` when set, else the server's defaults at the time of the first check.
Everything here blocks (briefly): callers in trio run it in a worker thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("voiced.audio")

QUERY_TIMEOUT_S = 2.0
PULSE_DEVICE_NAMES = ("pulse", "default", "pipewire")
"""PortAudio (ALSA) devices that are the sound server; a hw: device is not watched here."""

_READY, _FAILED, _TERMINATED = 4, 5, 6
_OPERATION_RUNNING = 0
_NOAUTOSPAWN = 1


class _SampleSpec(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("rate", ctypes.c_uint32), ("channels", ctypes.c_uint8)]


class _ServerInfo(ctypes.Structure):
    _fields_ = [("user_name", ctypes.c_char_p), ("host_name", ctypes.c_char_p),
                ("server_version", ctypes.c_char_p), ("server_name", ctypes.c_char_p),
                ("sample_spec", _SampleSpec), ("default_sink_name", ctypes.c_char_p),
                ("default_source_name", ctypes.c_char_p)]


_INFO_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
_SERVER_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(_ServerInfo), ctypes.c_void_p)


class PulseUnavailable(RuntimeError):
    """No libpulse, or no server answering."""


def _load() -> ctypes.CDLL:
    name = ctypes.util.find_library("pulse") or "libpulse.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise PulseUnavailable(f"libpulse not found: {exc}") from None
    vp = ctypes.c_void_p
    for fn, res, args in [
        ("pa_mainloop_new", vp, []),
        ("pa_mainloop_get_api", vp, [vp]),
        ("pa_mainloop_free", None, [vp]),
        ("pa_mainloop_prepare", ctypes.c_int, [vp, ctypes.c_int]),
        ("pa_mainloop_poll", ctypes.c_int, [vp]),
        ("pa_mainloop_dispatch", ctypes.c_int, [vp]),
        ("pa_context_new", vp, [vp, ctypes.c_char_p]),
        ("pa_context_connect", ctypes.c_int, [vp, ctypes.c_char_p, ctypes.c_int, vp]),
        ("pa_context_get_state", ctypes.c_int, [vp]),
        ("pa_context_disconnect", None, [vp]),
        ("pa_context_unref", None, [vp]),
        ("pa_context_get_sink_info_by_name", vp, [vp, ctypes.c_char_p, _INFO_CB, vp]),
        ("pa_context_get_source_info_by_name", vp, [vp, ctypes.c_char_p, _INFO_CB, vp]),
        ("pa_context_get_server_info", vp, [vp, _SERVER_CB, vp]),
        ("pa_operation_get_state", ctypes.c_int, [vp]),
        ("pa_operation_unref", None, [vp]),
    ]:
        function = getattr(lib, fn)
        function.restype, function.argtypes = res, args
    return lib


@dataclass(frozen=True)
class Wanted:
    sink: str | None
    source: str | None


class PulseWatch:
    """Answers `missing()`: which of the watched sink and source the server does not have now."""

    def __init__(self, sink: str | None = None, source: str | None = None) -> None:
        self._lib = _load()
        self._loop: int | None = None
        self._context: int | None = None
        self.wanted = Wanted(sink or os.environ.get("PULSE_SINK") or None,
                             source or os.environ.get("PULSE_SOURCE") or None)

    def missing(self) -> list[str]:
        """"output 'name' gone" / "input 'name' gone" for each watched device the server lacks.

        Raises PulseUnavailable when the server does not answer (it may be restarting).
        """
        self._connect()
        if self.wanted.sink is None or self.wanted.source is None:
            sink, source = self._defaults()
            self.wanted = Wanted(self.wanted.sink or sink, self.wanted.source or source)
        gone = []
        if self.wanted.sink and not self._exists("sink", self.wanted.sink):
            gone.append(f"output {self.wanted.sink!r} gone")
        if self.wanted.source and not self._exists("source", self.wanted.source):
            gone.append(f"input {self.wanted.source!r} gone")
        return gone

    def close(self) -> None:
        if self._context is not None:
            self._lib.pa_context_disconnect(self._context)
            self._lib.pa_context_unref(self._context)
            self._context = None
        if self._loop is not None:
            self._lib.pa_mainloop_free(self._loop)
            self._loop = None

    # -- libpulse ------------------------------------------------------------------

    def _connect(self) -> None:
        if self._context is not None:
            if self._lib.pa_context_get_state(self._context) == _READY:
                return
            self.close()  # the server went away: start over
        self._loop = self._lib.pa_mainloop_new()
        self._context = self._lib.pa_context_new(self._lib.pa_mainloop_get_api(self._loop), b"voiced")
        if self._lib.pa_context_connect(self._context, None, _NOAUTOSPAWN, None) < 0:
            self.close()
            raise PulseUnavailable("cannot connect to the sound server")

        def state() -> int:
            assert self._context is not None
            return self._lib.pa_context_get_state(self._context)

        self._iterate_until(lambda: state() in (_READY, _FAILED, _TERMINATED))
        if state() != _READY:
            self.close()
            raise PulseUnavailable("the sound server refused the connection")

    def _iterate_until(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + QUERY_TIMEOUT_S
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise PulseUnavailable("the sound server did not answer")
            self._lib.pa_mainloop_prepare(self._loop, int(min(left, 0.1) * 1e6))
            if self._lib.pa_mainloop_poll(self._loop) < 0 or self._lib.pa_mainloop_dispatch(self._loop) < 0:
                self.close()
                raise PulseUnavailable("lost the sound server")

    def _run(self, operation: int | None) -> None:
        if not operation:
            self.close()
            raise PulseUnavailable("the sound server rejected a query")
        try:
            self._iterate_until(lambda: self._lib.pa_operation_get_state(operation) != _OPERATION_RUNNING)
        finally:
            self._lib.pa_operation_unref(operation)

    def _exists(self, kind: str, name: str) -> bool:
        found = []

        def on_info(_context: int, info: int | None, eol: int, _userdata: int) -> None:
            if eol == 0 and info:
                found.append(True)

        callback = _INFO_CB(on_info)
        query = getattr(self._lib, f"pa_context_get_{kind}_info_by_name")
        self._run(query(self._context, name.encode(), callback, None))
        return bool(found)

    def _defaults(self) -> tuple[str | None, str | None]:
        names: list[str | None] = [None, None]

        def on_info(_context: int, info: ctypes._Pointer[_ServerInfo], _userdata: int) -> None:
            if info:
                sink, source = info.contents.default_sink_name, info.contents.default_source_name
                names[:] = [sink.decode() if sink else None, source.decode() if source else None]

        callback = _SERVER_CB(on_info)
        self._run(self._lib.pa_context_get_server_info(self._context, callback, None))
        return names[0], names[1]


def watch_for(input_name: str, output_name: str) -> PulseWatch | None:
    """A watch when the PortAudio devices in use are the sound server's, else None."""
    if not any(name.lower() in PULSE_DEVICE_NAMES for name in (input_name, output_name)):
        return None
    try:
        return PulseWatch()
    except PulseUnavailable as exc:
        log.info("not watching the sound server's devices: %s", exc)
        return None

