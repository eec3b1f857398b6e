"""The plugin host: what the daemon holds to load the plugins, run them and keep score.

It puts the parts together: `loading` (finding and registering plugins), `calling`
(isolated calls and failure counting), `inboxes` (events and turns), `tools`, `rpc`
(control-socket methods), `recording` and `wake` (the threads fed with audio).

Nothing the daemon calls on its hot paths waits for a plugin: events and turns go into
bounded per-plugin queues drained by tasks in the host's own nursery, audio into a
bounded queue drained by the recording thread or a wake detector's.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from voiced.config import Settings, default_config_path

from .api import DaemonAPI, Tool, VoiceCommandContext, WakeContext
from .calling import MAX_FAILURES, PluginCalls
from .daemon_view import DaemonView
from .discovery import DISABLED, PluginRecord
from .inboxes import Inboxes
from .loading import Plugins
from .recording import RecordingFeed
from .rpc import Methods
from .tools import Tools
from .wake import GuardedDetector

if TYPE_CHECKING:
    import pluggy

    from voiced.bus import Event
    from voiced.control import MethodRegistry
    from voiced.turns import Turn

log = logging.getLogger("voiced.plugins")

QUEUE_SIZE = 256
DRAIN_ON_SHUTDOWN_S = 3.0
"""How long a stopping host keeps delivering pending turns, and waits for wake detectors to close."""


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
        self.queue_size = queue_size
        self._plugins = Plugins()
        self._calls = PluginCalls(max_failures, self.disable)
        self._inboxes = Inboxes(self._calls, queue_size, timeouts.event)
        self._tools = Tools(self._calls, timeouts.tool)
        self._methods = Methods(self._calls, timeouts.rpc)
        self._loaded = False
        self._daemon: DaemonView | None = None
        self._recording: RecordingFeed | None = None
        self._detectors: list[GuardedDetector] = []
        self._stopping = False

    @property
    def pm(self) -> pluggy.PluginManager:
        """pluggy's manager: the active plugins are registered with it."""
        return self._plugins.pm

    @property
    def records(self) -> dict[str, PluginRecord]:
        """Every plugin found, active or not, by name."""
        return self._plugins.records

    def load(self) -> None:
        """Find, import and register every plugin (once). Never raises for a plugin's fault."""
        if not self._loaded:
            self._loaded = True
            self._plugins.load(self.settings, self.dropin_dirs, bundled=self.bundled)

    # -- running -----------------------------------------------------------------------

    async def run(self, daemon: DaemonAPI, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Serve the plugins until cancelled; use with `nursery.start`.

        Before `started`: load, `voiced_startup` for each plugin, collect tools and RPC
        methods. Then: deliver bus events (the host listens on `daemon.bus` itself) and
        turns. When cancelled: the wake detectors handed out are closed, pending turns
        delivered (for a few seconds at most), recording writers closed, and
        `voiced_shutdown` called for each plugin.
        """
        self.load()
        self._daemon = view = DaemonView(daemon)
        self._calls.start(view.bus)
        try:
            async with trio.open_nursery() as nursery:
                for record, impl in self._plugins.impls("voiced_startup"):
                    await self._calls.call_hook(record, "voiced_startup", impl, timeout=self.timeouts.startup,
                                                daemon=view)
                await self._tools.collect(self._plugins.impls("voiced_tools"), self.timeouts.startup)
                await self._methods.collect(self._plugins.impls("voiced_rpc_methods"), self.timeouts.startup)
                self._inboxes.start(nursery, self._plugins.impls)
                daemon.bus.listen(self.deliver_event)
                if daemon.settings.recording.enabled:
                    folder = Path(daemon.settings.recording.dir or view.data_dir / "recordings").expanduser()
                    self._recording = RecordingFeed(
                        lambda: self._plugins.impls("voiced_recording_writer"), folder,
                        report=self._calls.report, slow_write_s=self.timeouts.slow_write,
                        maxsize=self.queue_size * 4)
                task_status.started()
                await trio.sleep_forever()
        finally:
            daemon.bus.unlisten(self.deliver_event)
            with trio.CancelScope(shield=True):
                await self._finish(view)

    async def _finish(self, view: DaemonView) -> None:
        self._stopping = True
        await self._close_detectors()
        await self._inboxes.deliver_pending_turns(DRAIN_ON_SHUTDOWN_S)
        if self._recording is not None:
            await self._recording.stop()
            self._recording = None
        for record, impl in self._plugins.impls("voiced_shutdown"):
            await self._calls.call_hook(record, "voiced_shutdown", impl, timeout=self.timeouts.shutdown,
                                        daemon=view)

    async def _close_detectors(self) -> None:
        """Close the wake detectors still open and wait, a few seconds at most, for their threads."""
        detectors, self._detectors = self._detectors, []
        for detector in detectors:
            detector.close()
        deadline = trio.current_time() + DRAIN_ON_SHUTDOWN_S
        for detector in detectors:
            if not await detector.wait_closed(max(0.0, deadline - trio.current_time())):
                log.error("plugin %s: its wake detector did not close within %g s", detector.plugin,
                          DRAIN_ON_SHUTDOWN_S)

    def disable(self, name: str, status: str = DISABLED) -> None:
        """Unregister the plugin; its queued events are dropped and its workers end."""
        record = self.records[name]
        record.status = status
        self._plugins.unregister(record)
        self._inboxes.drop(record)

    # -- what the daemon calls ---------------------------------------------------------

    def deliver_event(self, event: Event) -> None:
        """Queue `event` for each `voiced_event` plugin; never waits (the host listens on the bus)."""
        self._inboxes.offer("voiced_event", event=event)

    def deliver_transcript(self, turn: Turn) -> None:
        """Queue a finished turn for each `voiced_transcript` plugin; never waits. The plugins get
        a copy, so the daemon's own is never changed."""
        self._inboxes.offer("voiced_transcript", entry=dataclasses.replace(turn))

    async def voice_command(self, text: str, item_id: str) -> bool:
        """Offer a completed user transcript to `voiced_voice_command` implementations in turn;
        the first that returns True takes it (`command.matched` is published). Await it in a
        task of the daemon's: it may take up to the command timeout per plugin."""
        daemon = self._require_daemon()
        ctx = VoiceCommandContext(daemon, item_id, daemon.conversation_id)
        for record, impl in self._plugins.impls("voiced_voice_command"):
            ok, result = await self._calls.call_hook(record, "voiced_voice_command", impl,
                                                     timeout=self.timeouts.command, text=text, ctx=ctx)
            if ok and result is True:
                daemon.bus.publish("command.matched",
                                   {"plugin": record.name, "text": text, "item_id": item_id})
                return True
        return False

    def tools(self) -> list[Tool]:
        """The tools of active plugins (collected once, at start-up)."""
        return self._tools.active()

    async def call_tool(self, name: str, arguments: str | dict[str, Any]) -> str:
        """Run tool `name` with the model's JSON `arguments`; the output for the model.

        Never raises: an unknown tool, bad arguments, a failure or a timeout become
        `{"error": "..."}` (failures and timeouts are reported against the plugin).
        """
        return await self._tools.call(name, arguments)

    async def session_config(self, session: dict[str, Any]) -> dict[str, Any]:
        """`session` with the plugins' tools added and each `voiced_session_config` applied.

        Each implementation works on a copy, kept only when it succeeds; `session` itself is
        not changed. Call it before each `session.update` is sent.
        """
        return await self._tools.session_config(session, self._plugins.impls("voiced_session_config"),
                                                self.timeouts.session)

    async def wake_detectors(self) -> list[GuardedDetector]:
        """Fresh detectors for a standby that begins: one per plugin that offers one.

        Each `feed(pcm)` never blocks (the plugin's detector runs in a thread of its own) and
        returns True once it has heard its wake word. `close()` each when standby ends: that
        ends its thread and closes the plugin's detector. Those still open when the host
        stops are closed then. A host that is not running (not started yet, or stopping for
        a reload or shutdown) gives none, so no detector is left that nobody would close.
        """
        daemon = self._daemon
        if daemon is None or self._stopping:
            return []
        self._detectors = [detector for detector in self._detectors if not detector.closed]
        ctx = WakeContext(daemon)
        found = []
        for record, impl in self._plugins.impls("voiced_wake_detector"):
            ok, detector = await self._calls.call_hook(record, "voiced_wake_detector", impl,
                                                       timeout=self.timeouts.wake, ctx=ctx)
            if ok and detector is not None:
                found.append(GuardedDetector(record, detector, report=self._calls.report,
                                             slow_feed_s=self.timeouts.slow_write, maxsize=self.queue_size))
        if self._stopping:  # the host stopped while the plugins were asked: nobody would close these
            for detector in found:
                detector.close()
            return []
        self._detectors.extend(found)
        return found

    def record(self, direction: str, pcm: bytes, ts: float) -> None:
        """A frame of audio for the recording writers, when `[recording] enabled`; from any
        thread, never blocks. `direction` "in" (microphone) or "out" (played), mono PCM16 at
        24 kHz, `ts` monotonic seconds of its first sample."""
        daemon = self._daemon
        feed = self._recording
        if daemon is None or feed is None or self._stopping:
            return  # not recording, or shutting down (the audio outlives the writers a little)
        feed.offer(daemon.conversation_id, direction, pcm, ts)

    # -- control-socket methods ----------------------------------------------------------

    def register_methods(self, registry: MethodRegistry) -> None:
        """Add `plugins` (the status of each plugin) and every plugin's methods to `registry`.
        A name that is taken is reported against its plugin and skipped."""
        self._methods.register(registry, self.status)

    async def collect_methods(self) -> None:
        """Load the plugins and ask them for their methods without starting them, for
        `register_methods` to describe (the docs' reference); `run` collects them itself."""
        self.load()
        await self._methods.collect(self._plugins.impls("voiced_rpc_methods"), self.timeouts.startup)

    def unregister_methods(self, registry: MethodRegistry) -> None:
        """Take back what `register_methods` added (the plugins are being reloaded)."""
        self._methods.unregister(registry)

    def status(self) -> list[dict[str, Any]]:
        """Each plugin's record, by name: for the `plugins` method and `voicectl plugins`."""
        return [self.records[name].as_dict() for name in sorted(self.records)]

    def _require_daemon(self) -> DaemonView:
        if self._daemon is None:
            raise RuntimeError("the plugin host is not running")
        return self._daemon
