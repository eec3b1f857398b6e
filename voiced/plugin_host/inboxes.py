"""Events and turns for the plugins, through a bounded queue per plugin and hook.

Whoever delivers (the bus, the daemon's turn tracking) never waits: each item is queued,
and a task per queue hands it to the plugin. A plugin that falls behind loses its oldest
items, counted on its record.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import pluggy
import trio

from .calling import PluginCalls
from .discovery import PluginRecord

log = logging.getLogger("voiced.plugins")

HOOKS = ("voiced_event", "voiced_transcript")
"""The hooks delivered through inboxes."""


class _Inbox:
    """One plugin's bounded queue for one hook; the oldest item goes when it is full."""

    def __init__(self, record: PluginRecord, hook: str, impl: pluggy.HookImpl, maxlen: int) -> None:
        self.record = record
        self.hook = hook
        self.impl = impl
        self.items: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self.arrived = trio.Event()

    def offer(self, kwargs: dict[str, Any]) -> bool:
        """Queue `kwargs`; True when an older item had to be dropped for it."""
        full = len(self.items) == self.items.maxlen
        self.items.append(kwargs)
        self.arrived.set()
        return full


class Inboxes:
    """The inboxes of every plugin implementing `voiced_event` or `voiced_transcript`."""

    def __init__(self, calls: PluginCalls, maxlen: int, timeout: float) -> None:
        """`timeout`: seconds one call may take; `maxlen`: items each inbox holds."""
        self._calls = calls
        self._maxlen = maxlen
        self._timeout = timeout
        self._inboxes: dict[str, list[_Inbox]] = {hook: [] for hook in HOOKS}

    def start(self, nursery: trio.Nursery,
              impls: Callable[[str], list[tuple[PluginRecord, pluggy.HookImpl]]]) -> None:
        """Open an inbox for each implementation `impls(hook)` gives, with a task in `nursery`
        handing its items over until the plugin is disabled or the nursery is cancelled."""
        for hook, inboxes in self._inboxes.items():
            for record, impl in impls(hook):
                inbox = _Inbox(record, hook, impl, self._maxlen)
                inboxes.append(inbox)
                nursery.start_soon(self._drain, inbox, name=f"plugin {record.name} {hook}")

    def offer(self, hook: str, **kwargs: Any) -> None:
        """Queue the hook's arguments for each active plugin; never waits."""
        for inbox in self._inboxes[hook]:
            if inbox.record.active and inbox.offer(kwargs):
                inbox.record.dropped += 1
                if inbox.record.dropped in (1, 10, 100) or inbox.record.dropped % 1000 == 0:
                    log.warning("plugin %s is slow: %d items dropped from its %s queue",
                                inbox.record.name, inbox.record.dropped, hook)

    async def deliver_pending_turns(self, timeout: float) -> None:
        """Hand the turns still queued to their plugins, for `timeout` seconds at most (the
        host is stopping: its tasks are gone, so this runs in the caller's)."""
        with trio.move_on_after(timeout):
            for inbox in self._inboxes["voiced_transcript"]:
                while inbox.items and inbox.record.active:
                    await self._deliver(inbox, inbox.items.popleft())

    def drop(self, record: PluginRecord) -> None:
        """Forget what is queued for the plugin (it is disabled): its tasks end."""
        for inboxes in self._inboxes.values():
            for inbox in inboxes:
                if inbox.record is record:
                    inbox.items.clear()
                    inbox.arrived.set()

    async def _drain(self, inbox: _Inbox) -> None:
        # A turn being handed over when the host stops is finished (the call has its own
        # timeout), so transcript sinks lose nothing; an event may be cut short.
        shield = inbox.hook == "voiced_transcript"
        while inbox.record.active:
            if not inbox.items:
                await inbox.arrived.wait()
                inbox.arrived = trio.Event()
                continue
            with trio.CancelScope(shield=shield):
                await self._deliver(inbox, inbox.items.popleft())

    async def _deliver(self, inbox: _Inbox, kwargs: dict[str, Any]) -> None:
        await self._calls.call_hook(inbox.record, inbox.hook, inbox.impl, timeout=self._timeout, **kwargs)
