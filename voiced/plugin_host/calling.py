"""Calling one plugin function at a time, isolated, and keeping each plugin's score.

No hook is called through `pm.hook.NAME()`, which would stop at the first exception:
each implementation is called on its own, with its own timeout. Coroutines are awaited
under `trio.move_on_after`; plain functions run in a worker thread (at most a few at a
time per plugin; a thread that overruns is abandoned and counted). An exception or a
timeout is logged with the plugin's name, published as `plugin.failed`, and after
`max_failures` consecutive ones the plugin is disabled.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import pluggy
import trio

from voiced.exceptions import first_of

from .api import BusAPI
from .daemon_view import OnTrio
from .discovery import DISABLED_AFTER_FAILURES, ENABLED, FAILING, PluginRecord, one_line

log = logging.getLogger("voiced.plugins")

MAX_FAILURES = 5
THREADS_PER_PLUGIN = 4
"""Worker threads a plugin's plain-function hooks may occupy at once (abandoned ones included)."""


_NOT_A_PLUGINS_FAILURE = (trio.Cancelled, KeyboardInterrupt, GeneratorExit)
"""What passes through a plugin call untouched: cancellation and Ctrl-C belong to the caller."""


def describe(exc: BaseException) -> str:
    """`one_line(exc)`, even for an exception whose message cannot be made."""
    try:
        return one_line(exc)
    except Exception:
        return type(exc).__name__


class _Failed(Exception):
    """A hook call failed; the message is the one-line error."""


def hook_args(impl: pluggy.HookImpl, **available: Any) -> dict[str, Any]:
    """The hook arguments this implementation asks for (it may take any subset)."""
    return {name: available[name] for name in impl.argnames if name in available}


class PluginCalls:
    """Calls plugin functions, each isolated, and counts their failures.

    `disable(name, status)` is called (on the trio thread) when a plugin has failed
    `max_failures` times in a row.
    """

    def __init__(self, max_failures: int, disable: Callable[[str, str], None]) -> None:
        self.max_failures = max_failures
        self._disable = disable
        self._limiters: dict[str, trio.CapacityLimiter] = {}
        self._bus: BusAPI | None = None
        self._on_trio: OnTrio | None = None

    def start(self, bus: BusAPI) -> None:
        """From now on failures are published on `bus`, and `report` works from any thread.
        Call it inside trio, on the thread that will count the failures."""
        self._bus = bus
        self._on_trio = OnTrio()

    async def call(self, record: PluginRecord, what: str, fn: Callable[..., Any], *args: Any,
                   timeout: float, passthrough: tuple[type[Exception], ...] = (), **kwargs: Any
                   ) -> tuple[bool, Any]:
        """Call one plugin function: (True, its result), or (False, the one-line error) after
        counting and reporting the failure as `what`. Exceptions of the `passthrough` types
        count as successes and are raised as they are; nothing else is raised.

        A plain function runs in a worker thread (the plugin's limiter caps how many); when
        it overruns `timeout`, the thread is abandoned and counted on the record.
        """
        threaded = False
        try:
            with trio.move_on_after(timeout) as scope:
                if inspect.iscoroutinefunction(fn):
                    result = await fn(*args, **kwargs)
                else:
                    threaded = True
                    result = await trio.to_thread.run_sync(
                        functools.partial(fn, *args, **kwargs), abandon_on_cancel=True,
                        limiter=self._limiter(record), thread_name=f"voiced plugin {record.name}")
                    threaded = False
                    if inspect.isawaitable(result):
                        result = await result
            if scope.cancelled_caught:
                if threaded:
                    record.threads_abandoned += 1
                    raise _Failed(f"timed out after {timeout:g} s (worker thread abandoned)")
                raise _Failed(f"timed out after {timeout:g} s")
        except passthrough:
            self._succeeded(record)
            raise
        except _Failed as exc:
            self.failed(record, what, str(exc))
            return False, str(exc)
        except BaseException as exc:  # SystemExit and the like from a plugin are its failures too
            if first_of(exc, _NOT_A_PLUGINS_FAILURE) is not None:
                raise
            log.error("plugin %s: %s failed", record.name, what, exc_info=exc)
            self.failed(record, what, describe(exc), logged=True)
            return False, describe(exc)
        self._succeeded(record)
        return True, result

    async def call_hook(self, record: PluginRecord, hook: str, impl: pluggy.HookImpl, *, timeout: float,
                        **available: Any) -> tuple[bool, Any]:
        """`call` the plugin's implementation of `hook` with the arguments it asks for among
        `available`."""
        return await self.call(record, hook, impl.function, timeout=timeout, **hook_args(impl, **available))

    def failed(self, record: PluginRecord, hook: str, error: str, *, logged: bool = False) -> None:
        """Count a failure, publish `plugin.failed`, disable the plugin after too many in a row.
        Call it on the trio thread (`report` from others); `logged`: the caller has logged it."""
        record.failures += 1
        record.failures_total += 1
        record.last_error = f"{hook}: {error}"
        if not logged:
            log.error("plugin %s: %s failed: %s", record.name, hook, error)
        if record.status == ENABLED:
            record.status = FAILING
        if record.failures >= self.max_failures and record.active:
            self._disable(record.name, DISABLED_AFTER_FAILURES)
            log.error("plugin %s disabled after %d failures in a row", record.name, record.failures)
        if self._bus is not None:
            self._bus.publish("plugin.failed", {"plugin": record.name, "hook": hook, "error": error})

    def report(self, record: PluginRecord, hook: str, error: str) -> None:
        """`failed`, from any thread (the recording and wake detector threads); it waits for the
        trio thread. Once trio has finished, or before `start`, the failure is only logged."""
        if self._on_trio is None:
            log.error("plugin %s: %s failed: %s", record.name, hook, error)
            return
        try:
            self._on_trio(self.failed, record, hook, error)
        except trio.RunFinishedError:
            log.error("plugin %s: %s failed: %s", record.name, hook, error)

    def _limiter(self, record: PluginRecord) -> trio.CapacityLimiter:
        if record.name not in self._limiters:
            self._limiters[record.name] = trio.CapacityLimiter(THREADS_PER_PLUGIN)
        return self._limiters[record.name]

    def _succeeded(self, record: PluginRecord) -> None:
        if record.status == FAILING:
            record.status = ENABLED
        record.failures = 0
