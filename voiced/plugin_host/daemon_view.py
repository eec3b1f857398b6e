"""The daemon as plugins see it: every call that changes something runs on the trio thread.

Plain-function hooks run in worker threads; the daemon and its bus may only be touched
from the trio thread, so this view carries such calls over (and waits for them).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import trio

from voiced.bus import check_event

from .api import BusAPI, DaemonAPI, ListeningAPI, VolumeAPI

if TYPE_CHECKING:
    from voiced.bus import Event, Listener
    from voiced.config import Settings

log = logging.getLogger("voiced.plugins")

T = TypeVar("T")


class OnTrio:
    """Runs a function on the trio thread it was created in, from any thread, and waits for it.

    Create it inside trio. From that thread, the call is direct; from another, it raises
    `trio.RunFinishedError` once trio has finished, and whatever the function raises.
    """

    def __init__(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._thread = threading.get_ident()

    def __call__(self, fn: Callable[..., T], *args: Any) -> T:
        if threading.get_ident() == self._thread:
            return fn(*args)
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)


class BusView:
    """`publish` and `listen`, callable from any thread."""

    def __init__(self, bus: BusAPI, on_trio: OnTrio) -> None:
        self._bus = bus
        self._on_trio = on_trio
        self._listeners: dict[Listener, PluginListener] = {}

    def publish(self, type_: str, data: dict[str, Any] | None = None) -> Event:
        """Publish an event; TypeError or ValueError, and nothing published, when it is not
        well formed: `type_` a short string without spaces, `data` a dict that is JSON.

        Subscribers get a copy of `data` taken now, so changing it later changes nothing."""
        check_event(type_, data)
        try:
            copied = json.loads(json.dumps(data, allow_nan=False)) if data else None
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValueError(f"event {type_}: its data is not JSON ({exc})") from None
        return self._on_trio(self._bus.publish, type_, copied)

    def listen(self, listener: Listener) -> None:
        """`listener(event)` runs on the daemon's thread for every event: it must never block
        (prefer the `voiced_event` hook, which does not have to be quick). When it raises, the
        error is logged and it hears no more events."""
        guarded = self._listeners.setdefault(listener, PluginListener(listener, self.unlisten))
        self._on_trio(self._bus.listen, guarded)

    def unlisten(self, listener: Listener) -> None:
        if (guarded := self._listeners.pop(listener, None)) is not None:
            self._on_trio(self._bus.unlisten, guarded)


class PluginListener:
    """A plugin's bus listener: its first exception is logged and ends its listening, and
    never reaches the bus (which keeps the daemon's own listeners whatever they raise)."""

    def __init__(self, listener: Listener, unlisten: Callable[[Listener], None]) -> None:
        self.listener = listener
        self._unlisten = unlisten

    def __call__(self, event: Event) -> None:
        try:
            self.listener(event)
        except Exception:
            log.exception("plugin event listener %r failed on %s; it hears no more events",
                          self.listener, event.type)
            self._unlisten(self.listener)


class DaemonView:
    """A `DaemonAPI` safe to use from any thread; created by the host inside trio."""

    def __init__(self, daemon: DaemonAPI) -> None:
        self._daemon = daemon
        self._on_trio = OnTrio()
        self.bus = BusView(daemon.bus, self._on_trio)

    @property
    def settings(self) -> Settings:
        return self._daemon.settings

    @property
    def state(self) -> str:
        return self._daemon.state

    @property
    def conversation_id(self) -> str:
        return self._daemon.conversation_id

    @property
    def data_dir(self) -> Path:
        return self._daemon.data_dir

    @property
    def volume(self) -> VolumeView:
        return VolumeView(self._daemon.volume, self._on_trio)

    @property
    def listening(self) -> ListeningView:
        return ListeningView(self._daemon.listening, self._on_trio)

    def say(self, text: str) -> None:
        self._on_trio(self._daemon.say, text)

    def announce(self, text: str) -> None:
        self._on_trio(self._daemon.announce, text)

    def interrupt(self) -> bool:
        return self._on_trio(self._daemon.interrupt)

    def pause(self) -> None:
        self._on_trio(self._daemon.pause)

    def resume(self) -> None:
        self._on_trio(self._daemon.resume)

    def restart(self) -> None:
        self._on_trio(self._daemon.restart)

    def standby(self) -> None:
        self._on_trio(self._daemon.standby)

    def stop(self) -> None:
        self._on_trio(self._daemon.stop)

    def when_quiet(self, callback: Callable[[], None]) -> None:
        """`callback` runs on the daemon's thread once the answer has been played: keep it short."""

        def guarded() -> None:
            try:
                callback()
            except Exception:
                log.exception("plugin callback %r (when_quiet) failed", callback)

        self._on_trio(self._daemon.when_quiet, guarded)


class VolumeView:
    """`daemon.volume`, callable from any thread."""

    def __init__(self, volume: VolumeAPI, on_trio: OnTrio) -> None:
        self._volume = volume
        self._on_trio = on_trio

    @property
    def level(self) -> int:
        return self._volume.level

    def set(self, level: int) -> None:
        self._on_trio(self._volume.set, level)


class ListeningView:
    """`daemon.listening`, callable from any thread."""

    def __init__(self, listening: ListeningAPI, on_trio: OnTrio) -> None:
        self._listening = listening
        self._on_trio = on_trio

    @property
    def mode(self) -> str:
        return self._listening.mode

    @property
    def awake(self) -> bool:
        return self._listening.awake

    def wake(self, reason: str) -> bool:
        return self._on_trio(self._listening.wake, reason)

    def sleep(self, reason: str) -> bool:
        return self._on_trio(self._listening.sleep, reason)

    def set_mode(self, mode: Literal["always", "wake"]) -> None:
        self._on_trio(self._listening.set_mode, mode)

    def set_arbiter(self, arbiter: Callable[[float, Callable[[bool], None]], None] | None) -> None:
        self._on_trio(self._listening.set_arbiter, arbiter)
