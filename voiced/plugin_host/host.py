"""The plugin host: loads plugins, calls their hooks one by one, and keeps score.

No hook is called through `pm.hook.NAME()`, which would stop at the first exception:
each implementation is called on its own, with its own timeout. Coroutines are awaited
under `trio.move_on_after`; plain functions run in a worker thread (at most a few at a
time per plugin; a thread that overruns is abandoned and counted). An exception or a
timeout is logged with the plugin's name, published as `plugin.failed`, and after
`max_failures` consecutive ones the plugin is unregistered.

Nothing the daemon calls on its hot paths waits for a plugin: events and turns go into
bounded per-plugin queues drained by tasks in the host's own nursery, audio into a
bounded queue drained by the recording thread.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import json
import logging
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
import trio

from voiced import hookspecs
from voiced.config import Settings, default_config_path

from . import discovery
from .api import (
    DaemonAPI,
    RecordingContext,
    RpcMethod,
    Tool,
    VoiceCommandContext,
    WakeContext,
)
from .daemon_view import DaemonView
from .discovery import (
    DISABLED,
    DISABLED_AFTER_FAILURES,
    ENABLED,
    FAILING,
    PluginRecord,
    one_line,
)
from .recording import RecordingFeed
from .wake import GuardedDetector

if TYPE_CHECKING:
    from voiced.bus import Event
    from voiced.control import ClientConnection, MethodRegistry

log = logging.getLogger("voiced.plugins")

MAX_FAILURES = 5
QUEUE_SIZE = 256
THREADS_PER_PLUGIN = 4
"""Worker threads a plugin's plain-function hooks may occupy at once (abandoned ones included)."""
PLUGIN_ERROR = -32010
"""Control-socket error: a plugin's method failed or its plugin is disabled."""
DRAIN_ON_SHUTDOWN_S = 3.0
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


@dataclass(frozen=True)
class Timeouts:
    """Seconds a single hook call may take before it counts as a failure."""

    startup: float = 10.0
    shutdown: float = 5.0
    event: float = 5.0
    """voiced_event and voiced_transcript, per call."""
    command: float = 2.0
    tool: float = 15.0
    rpc: float = 10.0
    session: float = 2.0
    wake: float = 2.0
    """Creating a wake detector."""
    slow_write: float = 0.5
    """A recording write (or detector feed) slower than this is reported."""


class _Failed(Exception):
    """A hook call failed; the message is the one-line error."""


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


class PluginHost:
    """Loads the plugins and runs them for a daemon; see PLUGINS.md for what plugins see.

    Usage by the daemon: construct, `await nursery.start(host.run, daemon)` (loads, calls
    `voiced_startup`, collects tools and methods, then serves until cancelled, calling
    `voiced_shutdown` on the way out), `host.register_methods(registry)`, and then the
    non-blocking `deliver_transcript`, `record` and the async `voice_command`,
    `call_tool`, `session_config`, `wake_detectors`.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        dropin_dirs: list[Path] | None = None,
        bundled: bool = True,
        timeouts: Timeouts = Timeouts(),
        max_failures: int = MAX_FAILURES,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        """`dropin_dirs` defaults to the config folder's `plugins/` plus `[plugins] dirs`."""
        self.settings = settings
        if dropin_dirs is None:
            dropin_dirs = [default_config_path().parent / "plugins", *settings.plugins.dirs]
        self.dropin_dirs = dropin_dirs
        self.bundled = bundled
        self.timeouts = timeouts
        self.max_failures = max_failures
        self.queue_size = queue_size
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self._loaded = False
        self._daemon: DaemonView | None = None
        self._limiters: dict[str, trio.CapacityLimiter] = {}
        self._inboxes: dict[str, list[_Inbox]] = {"voiced_event": [], "voiced_transcript": []}
        self._tools: dict[str, tuple[PluginRecord, Tool]] = {}
        self._methods: list[tuple[PluginRecord, str, RpcMethod]] = []
        self._recording: RecordingFeed | None = None
        self._finishing = False
        self._token: trio.lowlevel.TrioToken | None = None

    # -- loading -----------------------------------------------------------------------

    def load(self) -> None:
        """Find, import and register every plugin (once). Never raises for a plugin's fault."""
        if self._loaded:
            return
        self._loaded = True
        tables = dict(self.settings.plugins.model_extra or {})
        disabled = set(self.settings.plugins.disabled)
        for candidate in discovery.discover(self.dropin_dirs, bundled=self.bundled):
            table = tables.get(candidate.name) or {}
            if not isinstance(table, dict):
                table = {}
            table = dict(table)
            enabled = table.pop("enabled", True)
            if candidate.name in disabled or enabled is False:
                record = PluginRecord(candidate.name, candidate.source, candidate.location, status=DISABLED)
            else:
                record = discovery.load(candidate, table)
                if record.status == ENABLED:
                    self._register(record)
            self.records[record.name] = record
        log.info("plugins: %s", ", ".join(f"{r.name} ({r.status})" for r in self.records.values()) or "none")

    def _register(self, record: PluginRecord) -> None:
        try:
            self.pm.register(record.plugin, name=record.name)
        except Exception as exc:  # pluggy.PluginValidationError: a hook with wrong arguments
            record.status, record.last_error = discovery.FAILED_TO_LOAD, one_line(exc)
            log.error("plugin %s: %s", record.name, record.last_error)
            return
        impls = self.pm.get_hookcallers(record.plugin) or []
        unknown = [caller.name for caller in impls if not caller.has_spec()]
        if unknown:
            self.pm.unregister(record.plugin)
            record.status = discovery.FAILED_TO_LOAD
            record.last_error = f"unknown hook {', '.join(sorted(unknown))}"
            log.error("plugin %s: %s", record.name, record.last_error)
            return
        record.hooks = sorted(caller.name for caller in impls)

    def _impls(self, hook: str) -> list[tuple[PluginRecord, pluggy.HookImpl]]:
        """Active implementations of `hook` in pluggy's call order."""
        caller = getattr(self.pm.hook, hook)
        out = []
        for impl in reversed(caller.get_hookimpls()):
            record = self.records.get(impl.plugin_name)
            if record is not None and record.active:
                out.append((record, impl))
        return out

    # -- running -----------------------------------------------------------------------

    async def run(self, daemon: DaemonAPI, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Serve the plugins until cancelled; use with `nursery.start`.

        Before `started`: load, `voiced_startup` for each plugin, collect tools and RPC
        methods. Then: deliver bus events (the host listens on `daemon.bus` itself) and
        turns. When cancelled: pending turns are delivered (for a few seconds at most),
        recording writers closed, and `voiced_shutdown` called for each plugin.
        """
        self.load()
        self._token = trio.lowlevel.current_trio_token()
        self._daemon = view = DaemonView(daemon)
        try:
            async with trio.open_nursery() as nursery:
                for record, impl in self._impls("voiced_startup"):
                    await self._call(record, "voiced_startup", impl.function,
                                     timeout=self.timeouts.startup, **_args(impl, daemon=view))
                await self._collect_tools()
                await self._collect_methods()
                for hook, inboxes in self._inboxes.items():
                    for record, impl in self._impls(hook):
                        inbox = _Inbox(record, hook, impl, self.queue_size)
                        inboxes.append(inbox)
                        nursery.start_soon(self._drain, inbox, name=f"plugin {record.name} {hook}")
                daemon.bus.listen(self.deliver_event)
                if daemon.settings.recording.enabled:
                    self._recording = RecordingFeed(self, self.queue_size * 4)
                task_status.started()
                await trio.sleep_forever()
        finally:
            daemon.bus.unlisten(self.deliver_event)
            with trio.CancelScope(shield=True):
                await self._finish(view)

    async def _finish(self, view: DaemonView) -> None:
        self._finishing = True
        with trio.move_on_after(DRAIN_ON_SHUTDOWN_S):
            for inbox in self._inboxes["voiced_transcript"]:
                while inbox.items and inbox.record.active:
                    await self._call_impl(inbox, inbox.items.popleft())
        if self._recording is not None:
            await self._recording.stop()
            self._recording = None
        for record, impl in self._impls("voiced_shutdown"):
            await self._call(record, "voiced_shutdown", impl.function,
                             timeout=self.timeouts.shutdown, **_args(impl, daemon=view))

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
                await self._call_impl(inbox, inbox.items.popleft())

    async def _call_impl(self, inbox: _Inbox, kwargs: dict[str, Any]) -> None:
        await self._call(inbox.record, inbox.hook, inbox.impl.function, timeout=self.timeouts.event,
                         **_args(inbox.impl, **kwargs))

    # -- calling one implementation ------------------------------------------------------

    async def _call(self, record: PluginRecord, what: str, fn: Callable[..., Any], *args: Any,
                    timeout: float, passthrough: tuple[type[Exception], ...] = (), **kwargs: Any
                    ) -> tuple[bool, Any]:
        """Call one plugin function: (True, result), or (False, the one-line error) after
        reporting it. Exceptions of the `passthrough` types are raised as they are."""
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
            self._failed(record, what, str(exc))
            return False, str(exc)
        except Exception as exc:
            log.error("plugin %s: %s failed", record.name, what, exc_info=exc)
            self._failed(record, what, one_line(exc), logged=True)
            return False, one_line(exc)
        self._succeeded(record)
        return True, result

    def _limiter(self, record: PluginRecord) -> trio.CapacityLimiter:
        if record.name not in self._limiters:
            self._limiters[record.name] = trio.CapacityLimiter(THREADS_PER_PLUGIN)
        return self._limiters[record.name]

    def _succeeded(self, record: PluginRecord) -> None:
        if record.status == FAILING:
            record.status = ENABLED
        record.failures = 0

    def _failed(self, record: PluginRecord, hook: str, error: str, *, logged: bool = False) -> None:
        """Count a failure, publish `plugin.failed`, disable the plugin after too many in a row."""
        record.failures += 1
        record.failures_total += 1
        record.last_error = f"{hook}: {error}"
        if not logged:
            log.error("plugin %s: %s failed: %s", record.name, hook, error)
        if record.status == ENABLED:
            record.status = FAILING
        if record.failures >= self.max_failures and record.active:
            self.disable(record.name, DISABLED_AFTER_FAILURES)
            log.error("plugin %s disabled after %d failures in a row", record.name, record.failures)
        if self._daemon is not None:
            self._daemon.bus.publish("plugin.failed", {"plugin": record.name, "hook": hook, "error": error})

    def report_from_thread(self, record: PluginRecord, hook: str, error: str) -> None:
        """`_failed`, from a thread of the host's own (recording, wake detection)."""
        if self._token is None:
            return
        try:
            trio.from_thread.run_sync(self._failed, record, hook, error, trio_token=self._token)
        except trio.RunFinishedError:
            log.error("plugin %s: %s failed: %s", record.name, hook, error)

    def disable(self, name: str, status: str = DISABLED) -> None:
        """Unregister the plugin; its queued events are dropped and its workers end."""
        record = self.records[name]
        record.status = status
        if record.plugin is not None and self.pm.is_registered(record.plugin):
            self.pm.unregister(record.plugin)
        for inboxes in self._inboxes.values():
            for inbox in inboxes:
                if inbox.record is record:
                    inbox.items.clear()
                    inbox.arrived.set()

    # -- what the daemon calls ---------------------------------------------------------

    def deliver_event(self, event: Event) -> None:
        """Queue `event` for each `voiced_event` plugin; never waits (the host listens on the bus)."""
        self._offer("voiced_event", {"event": event})

    def deliver_transcript(self, turn: Any) -> None:
        """Queue a finished turn (a `voiced.turns.Turn`) for each `voiced_transcript` plugin."""
        self._offer("voiced_transcript", {"entry": dataclasses.replace(turn)})

    def _offer(self, hook: str, kwargs: dict[str, Any]) -> None:
        for inbox in self._inboxes[hook]:
            if inbox.record.active and inbox.offer(kwargs):
                inbox.record.dropped += 1
                if inbox.record.dropped in (1, 10, 100) or inbox.record.dropped % 1000 == 0:
                    log.warning("plugin %s is slow: %d items dropped from its %s queue",
                                inbox.record.name, inbox.record.dropped, hook)

    async def voice_command(self, text: str, item_id: str) -> bool:
        """Offer a completed user transcript to `voiced_voice_command` implementations in turn;
        the first that returns True takes it (`command.matched` is published). Await it in a
        task of the daemon's: it may take up to the command timeout per plugin."""
        daemon = self._require_daemon()
        ctx = VoiceCommandContext(daemon, item_id, daemon.conversation_id)
        for record, impl in self._impls("voiced_voice_command"):
            ok, result = await self._call(record, "voiced_voice_command", impl.function,
                                          timeout=self.timeouts.command, **_args(impl, text=text, ctx=ctx))
            if ok and result is True:
                daemon.bus.publish("command.matched",
                                   {"plugin": record.name, "text": text, "item_id": item_id})
                return True
        return False

    def tools(self) -> list[Tool]:
        """The tools of active plugins (collected once, at start-up)."""
        return [tool for record, tool in self._tools.values() if record.active]

    async def call_tool(self, name: str, arguments: str | dict[str, Any]) -> str:
        """Run tool `name` with the model's JSON `arguments`; the output for the model.

        Never raises: an unknown tool, bad arguments, a failure or a timeout become
        `{"error": "..."}` (failures and timeouts are reported against the plugin).
        """
        entry = self._tools.get(name)
        if entry is None or not entry[0].active:
            return json.dumps({"error": f"no tool named {name!r}"})
        record, tool = entry
        try:
            kwargs = json.loads(arguments or "{}") if isinstance(arguments, str) else dict(arguments)
        except ValueError as exc:
            return json.dumps({"error": f"arguments are not JSON: {exc}"})
        if not isinstance(kwargs, dict):
            return json.dumps({"error": "arguments must be a JSON object"})
        try:
            inspect.signature(tool.handler).bind(**kwargs)
        except TypeError as exc:  # arguments that do not fit the handler: the model's mistake
            return json.dumps({"error": f"bad arguments: {exc}"})
        ok, result = await self._call(record, f"tool {name}", tool.handler, timeout=self.timeouts.tool,
                                      **kwargs)
        if not ok:
            return json.dumps({"error": result})
        return result if isinstance(result, str) else json.dumps(result, default=str)

    async def session_config(self, session: dict[str, Any]) -> dict[str, Any]:
        """`session` with the plugins' tools added and each `voiced_session_config` applied.

        Each implementation works on a copy, kept only when it succeeds; `session` itself is
        not changed. Call it before each `session.update` is sent.
        """
        current = copy.deepcopy(session)
        if tools := self.tools():
            current["tools"] = [*current.get("tools", []), *(tool.session_entry() for tool in tools)]
            current.setdefault("tool_choice", "auto")
        for record, impl in self._impls("voiced_session_config"):
            candidate = copy.deepcopy(current)
            ok, result = await self._call(record, "voiced_session_config", impl.function,
                                          timeout=self.timeouts.session, **_args(impl, session=candidate))
            if ok:
                current = result if isinstance(result, dict) else candidate
        return current

    async def wake_detectors(self) -> list[GuardedDetector]:
        """One detector per plugin that offers one, for standby. Each `feed(pcm)` never blocks
        (the plugin's detector runs in a thread of its own) and returns True once it has
        heard its wake word; `close()` each when standby ends."""
        daemon = self._require_daemon()
        ctx = WakeContext(daemon)
        found = []
        for record, impl in self._impls("voiced_wake_detector"):
            ok, detector = await self._call(record, "voiced_wake_detector", impl.function,
                                            timeout=self.timeouts.wake, **_args(impl, ctx=ctx))
            if ok and detector is not None:
                found.append(GuardedDetector(self, record, detector, self.queue_size))
        return found

    def record(self, direction: str, pcm: bytes, ts: float) -> None:
        """A frame of audio for the recording writers, when `[recording] enabled`; from any
        thread, never blocks. `direction` "in" (microphone) or "out" (played), mono PCM16 at
        24 kHz, `ts` monotonic seconds of its first sample."""
        daemon = self._daemon
        feed = self._recording
        if daemon is None or feed is None or self._finishing:
            return  # not recording, or shutting down (the audio outlives the writers a little)
        feed.offer(daemon.conversation_id, direction, pcm, ts)

    def open_writers(self, conversation_id: str) -> list[tuple[PluginRecord, Any]]:
        """Ask each `voiced_recording_writer` plugin for a writer (in the recording thread)."""
        assert self._daemon is not None and self._token is not None
        base = self._daemon.settings.recording.dir or self._daemon.data_dir / "recordings"
        ctx = RecordingContext(conversation_id, Path(base).expanduser() / conversation_id)
        writers = []
        for record, impl in self._impls("voiced_recording_writer"):
            try:
                writer = impl.function(**_args(impl, ctx=ctx))
                if inspect.isawaitable(writer):
                    writer = trio.from_thread.run(_awaited, writer, trio_token=self._token)
            except Exception as exc:
                log.error("plugin %s: voiced_recording_writer failed", record.name, exc_info=exc)
                self.report_from_thread(record, "voiced_recording_writer", one_line(exc))
                continue
            if writer is not None:
                writers.append((record, writer))
        return writers

    # -- control-socket methods ----------------------------------------------------------

    def rpc_methods(self) -> list[tuple[str, Callable[[Any, ClientConnection], Any], Any, str]]:
        """(full name, async handler(params, client), params model, summary) for each plugin
        method; the handlers call the plugin isolated and answer failures with an RpcError."""
        return [(full, self._rpc_handler(record, full, method), method.params,
                 method.summary or _first_line(method.handler)) for record, full, method in self._methods]

    def register_methods(self, registry: MethodRegistry) -> None:
        """Add `plugins` (the status of each plugin) and every plugin's methods to `registry`.
        A name that is taken is reported against its plugin and skipped."""

        async def plugins(params: None, client: ClientConnection) -> dict[str, Any]:
            """Each plugin: source, hooks, status, failures, last error."""
            return {"plugins": self.status()}

        if "plugins" not in registry:
            registry.add("plugins", plugins)
        by_name = {full: record for record, full, _ in self._methods}
        for full, handler, params, summary in self.rpc_methods():
            try:
                registry.add(full, handler, params, summary)
            except ValueError as exc:
                record = by_name[full]
                record.last_error = f"voiced_rpc_methods: {exc}"
                log.error("plugin %s: %s", record.name, record.last_error)

    def unregister_methods(self, registry: MethodRegistry) -> None:
        """Take back what `register_methods` added (the plugins are being reloaded)."""
        for name in ["plugins", *(full for _, full, _ in self._methods)]:
            registry.remove(name)

    def _rpc_handler(self, record: PluginRecord, full: str, method: RpcMethod
                     ) -> Callable[[Any, ClientConnection], Any]:
        from voiced.control import RpcError

        async def handler(params: Any, client: ClientConnection) -> Any:
            data = {"plugin": record.name}
            if not record.active:
                raise RpcError(PLUGIN_ERROR, f"plugin {record.name} is {record.status}", data)
            ok, result = await self._call(record, f"method {full}", method.handler, params,
                                          timeout=self.timeouts.rpc, passthrough=(RpcError,))
            if not ok:
                raise RpcError(PLUGIN_ERROR, f"plugin {record.name} failed: {result}", data)
            return result

        handler.__doc__ = method.summary
        return handler

    # -- collecting ----------------------------------------------------------------------

    async def _collect_tools(self) -> None:
        for record, impl in self._impls("voiced_tools"):
            ok, found = await self._call(record, "voiced_tools", impl.function, timeout=self.timeouts.startup)
            if not ok:
                continue
            for item in _items(found):
                try:
                    tool = item if isinstance(item, Tool) else Tool(**item)
                    if not _TOOL_NAME.match(tool.name):
                        raise ValueError(f"tool name {tool.name!r}: letters, digits, _ and - (64 at most)")
                    if (taken := self._tools.get(tool.name)) is not None:
                        raise ValueError(f"tool name {tool.name!r} is taken by {taken[0].name}")
                except (TypeError, ValueError) as exc:
                    self._failed(record, "voiced_tools", one_line(exc))
                    continue
                self._tools[tool.name] = (record, tool)

    async def _collect_methods(self) -> None:
        for record, impl in self._impls("voiced_rpc_methods"):
            ok, found = await self._call(record, "voiced_rpc_methods", impl.function,
                                         timeout=self.timeouts.startup)
            if not ok:
                continue
            for item in _items(found):
                try:
                    method = item if isinstance(item, RpcMethod) else RpcMethod(**item)
                    if method.name == "" and record.source != "bundled":
                        raise ValueError("only bundled plugins may offer a method under their bare name")
                except (TypeError, ValueError) as exc:
                    self._failed(record, "voiced_rpc_methods", one_line(exc))
                    continue
                full = f"{record.name}.{method.name}" if method.name else record.name
                self._methods.append((record, full, method))

    # -- reporting -----------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """Each plugin's record, by name: for the `plugins` method and `voicectl plugins`."""
        return [self.records[name].as_dict() for name in sorted(self.records)]

    def _require_daemon(self) -> DaemonView:
        if self._daemon is None:
            raise RuntimeError("the plugin host is not running")
        return self._daemon


def _args(impl: pluggy.HookImpl, **available: Any) -> dict[str, Any]:
    """The hook arguments this implementation asks for (it may take any subset)."""
    return {name: available[name] for name in impl.argnames if name in available}


def _items(found: Any) -> Iterable[Any]:
    if found is None:
        return ()
    if isinstance(found, (Tool, RpcMethod, dict)):
        return (found,)
    return found


def _first_line(fn: Callable[..., Any]) -> str:
    doc = (getattr(fn, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
