"""The daemon's wiring: one nursery owning the control socket, the audio and the session.

Data walks one way. Microphone frames go capture -> conversation -> outbox -> connection;
server events go connection -> conversation -> actions (send, play, stop, publish).
The conversation decides; this module only carries its actions out.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from voiced import logs
from voiced.audio.duplex import Audio
from voiced.bus import Bus
from voiced.config import WIRE_RATE, ConfigError, Settings, data_dir, load_settings
from voiced.control import ControlServer, MethodRegistry
from voiced.control.subscriptions import Subscriptions
from voiced.conversation import Action, CallTool, Conversation, Play, Publish, Send, State, StopPlayback
from voiced.listening import Listening
from voiced.plugin_host import PluginHost
from voiced.realtime.connection import Outgoing, SessionEnded
from voiced.realtime.protocol import ClientEvent, ServerEvent, realtime_url, session_config
from voiced.sessions import SessionKeeper
from voiced.systemd import inherited_socket, notify, watchdog_interval
from voiced.timing import RecentDurations
from voiced.turns import LatencyTracker, Turn, TurnRecorder
from voiced.usage import UsageLedger

log = logging.getLogger("voiced")

OUTBOX_SIZE = 1000
RESERVED_FOR_CONTROL = 100
"""Outbox slots microphone audio may not take, so a truncate is never dropped for audio."""
QUIET_STATES = frozenset({State.LISTENING, State.STANDBY, State.PAUSED, State.ERROR})


@dataclass
class Counters:
    """What `status` reports as counts."""

    frames_sent: int = 0
    frames_dropped: int = 0
    server_events: int = 0
    responses: int = 0
    interruptions: int = 0
    sessions: int = 0
    started_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Options:
    """What the command line says beyond the configuration."""

    config_path: Path | None = None
    assistant: str | None = None
    simulate: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)


def _new_conversation_id() -> str:
    return f"conv_{uuid.uuid4().hex[:16]}"


class Daemon:
    """One voice assistant: the session, the audio, the control socket and the plugins,
    all in one nursery that `run` owns."""

    def __init__(self, settings: Settings, options: Options) -> None:
        self.settings = settings
        self.options = options
        self.profile = settings.profile(options.assistant)
        self.bus = Bus()
        self.conversation = Conversation(session_config(settings, self.profile))
        self.conversation_id = _new_conversation_id()
        self.turns = TurnRecorder(self.conversation_id)
        self.latency = LatencyTracker()
        self.usage = UsageLedger.start(settings.api.model, settings.prices, dt.date.today())
        self.rate_limits: list[dict[str, Any]] = []
        self.audio = Audio(settings.audio)
        self.counters = Counters()
        self.methods = MethodRegistry()
        self.subscriptions = Subscriptions(self.bus)
        self.control = ControlServer(settings.socket_path, self.methods, inherited=inherited_socket())
        self.url: str | None = None
        self.ready = False
        """Start-up is over: later failures are crashes, not start-up errors."""
        self._simulator_url: str | None = None
        self._outbox_send, self.outbox = trio.open_memory_channel[Outgoing](OUTBOX_SIZE)
        self.mic_to_wire = RecentDurations()
        self.delta_to_device = RecentDurations()
        self._first_delta_at: dict[str, float] = {}
        self._nursery: trio.Nursery | None = None
        self._quiet_since: float | None = None
        self._when_quiet: list[Callable[[], None]] = []
        self._mic_opened_at = 0.0
        """Microphone audio captured before this (monotonic) is never sent: see `send_audio_from_now`."""
        self.sessions = SessionKeeper(self)
        self.listening = Listening(self)
        self.plugins = PluginHost(settings)
        self._next_plugins: PluginHost | None = None
        self._plugins_scope: trio.CancelScope | None = None
        self._plugins_reloaded = trio.Event()

    # -- running -------------------------------------------------------------

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT or `shutdown`; raise start-up errors before READY."""
        from voiced.commands import register_commands

        register_commands(self)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._handle_signals)
                await nursery.start(self.control.serve)
                await nursery.start(self._keep_plugins)
                if self.options.simulate:
                    from voiced.simulator import Simulator

                    self._simulator_url = await nursery.start(Simulator().serve)
                self.url = self._realtime_url()
                await self.audio.open(on_drained=self._playback_drained,
                                      on_item_started=self._first_sample_played)
                self._record_what_is_played()
                nursery.start_soon(self.audio.supervise, self._audio_trouble)
                self.listening.start()
                nursery.start_soon(self.sessions.run)
                nursery.start_soon(self._stream_microphone)
                nursery.start_soon(self._every_second)
                if (interval := watchdog_interval()) is not None:
                    nursery.start_soon(self._feed_watchdog, interval)
                notify(READY="1", STATUS=self.state)
                self.ready = True
                log.info("voiced ready: control socket %s", self.settings.socket_path)
        finally:
            with trio.CancelScope(shield=True):
                await self.audio.close()
            if self.ready:
                log.info("voiced stopped")

    def stop(self, after_s: float = 0.0) -> None:
        """End the daemon (after `after_s`): every task is cancelled, resources released."""
        if self._nursery is None:
            return
        if after_s > 0:
            self._nursery.cancel_scope.deadline = min(self._nursery.cancel_scope.deadline,
                                                      trio.current_time() + after_s)
        else:
            self._nursery.cancel_scope.cancel()
        notify(STOPPING="1")

    async def _handle_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            async for signum in signals:
                if signum == signal.SIGHUP:
                    await self.reload()
                else:
                    log.info("%s received, stopping", signal.Signals(signum).name)
                    self.stop()

    async def reload(self) -> None:
        """Re-read the configuration; a bad one is logged and the running one kept."""
        try:
            settings = await trio.to_thread.run_sync(
                lambda: load_settings(self.options.config_path, **self.options.overrides))
            profile = settings.profile(self.options.assistant)
        except ConfigError as exc:
            log.error("reload failed, keeping the running configuration: %s", exc)
            return
        self.settings, self.profile = settings, profile
        self._plugins_reloaded = trio.Event()
        if self._plugins_scope is not None:
            self._next_plugins = PluginHost(settings)
            self._plugins_scope.cancel()
            await self._plugins_reloaded.wait()
        self.url = self._realtime_url()
        self.usage.reprice(settings.api.model, settings.prices)
        self.audio.set_vad_threshold(settings.audio.vad_threshold)
        self.listening.ear.set_threshold(settings.audio.vad_threshold)
        if settings.api.key is not None:
            logs.redact(settings.api.key.get_secret_value())
        await self.prepare_session()
        if self.conversation.connected:
            self._send(self.conversation.events.session_update(self.conversation.session))
        elif self.conversation.error is not None:
            self.sessions.end("reload")  # a new key may fix what stopped the retries
        log.info("configuration reloaded")

    async def _keep_plugins(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the plugin host; on a reload, stop it (its plugins shut down) and run a new one
        that discovers and loads them again, so an edited drop-in takes effect."""
        while True:
            host = self.plugins
            with trio.CancelScope() as self._plugins_scope:
                async with trio.open_nursery() as nursery:
                    await nursery.start(host.run, self)
                    host.register_methods(self.methods)
                    self.listening.set_detectors(await host.wake_detectors())
                    task_status.started()
                    task_status = trio.TASK_STATUS_IGNORED
                    self._plugins_reloaded.set()
                    await trio.sleep_forever()
            host.unregister_methods(self.methods)
            if self._next_plugins is None:
                return
            self.plugins, self._next_plugins = self._next_plugins, None
            log.info("plugins reloaded")

    def _realtime_url(self) -> str:
        return realtime_url(self._simulator_url or self.settings.api.base_url, self.settings.api.model)

    # -- the session ---------------------------------------------------------

    def server_event(self, event: ServerEvent) -> None:
        """One event from the Realtime server (called by the connection's receive loop)."""
        self.counters.server_events += 1
        kind = str(event.get("type", ""))
        if log.isEnabledFor(logging.DEBUG) and not kind.endswith(".delta"):
            log.debug("server: %s", kind)
        if kind == "response.done":
            self.counters.responses += 1
        self.apply(self.conversation.server_event(event))
        if self.conversation.error is not None:
            raise SessionEnded(self.conversation.error, fatal=True)
        if kind == "error" and (event.get("error") or {}).get("code") == "session_expired":
            raise SessionEnded("session expired", code=1001)

    async def prepare_session(self) -> None:
        """The session config for the next `session.update`: settings, then plugins' tools and hooks."""
        base = session_config(self.settings, self.profile)
        session = await self.plugins.session_config(base)
        try:
            json.dumps(session)
        except (TypeError, ValueError) as exc:
            log.error("a plugin made the session configuration unsendable (%s); using it without "
                      "the plugins' changes", exc)
            session = base
        self.conversation.session = session

    def drop_outbox(self) -> None:
        """Events queued for a session that ended would be wrong in the next one."""
        while True:
            try:
                self.outbox.receive_nowait()
            except trio.WouldBlock:
                return

    async def _every_second(self) -> None:
        while True:
            await trio.sleep(1.0)
            now = time.monotonic()
            self.usage.roll_to(dt.date.today())
            self.listening.check(now)
            if self.sessions.due_for_rollover(now):
                self.sessions.end("rollover")

    async def _feed_watchdog(self, interval: float) -> None:
        """WATCHDOG=1 from the trio loop itself: if the loop hangs, systemd restarts us."""
        while True:
            notify(WATCHDOG="1")
            await trio.sleep(interval)

    async def _stream_microphone(self) -> None:
        assert self.audio.capture is not None
        async for frame in self.audio.capture.frames:
            if self.listening.hear(frame.pcm):
                continue  # standby: the frame stays on this machine
            frame = frame.since(self._mic_opened_at)
            if not frame.pcm:
                continue
            if not self.conversation.paused:
                self.plugins.record("in", frame.pcm, frame.started_at)
            event = self.conversation.microphone_frame(frame.pcm)
            if event is None:
                continue
            used = self._outbox_send.statistics().current_buffer_used
            if used >= OUTBOX_SIZE - RESERVED_FOR_CONTROL:
                self.counters.frames_dropped += 1
                continue
            self._outbox_send.send_nowait(Outgoing(event, frame.captured_at))
            self.counters.frames_sent += 1

    # -- carrying out the conversation's actions --------------------------------------

    def apply(self, actions: list[Action]) -> None:
        """Carry out what the conversation decided."""
        for action in actions:
            if isinstance(action, Send):
                self._send(action.event)
            elif isinstance(action, Play):
                if self.audio.playback is not None:
                    self.audio.playback.enqueue(action.item_id, action.pcm)
            elif isinstance(action, StopPlayback):
                self._stop_playback(action.item_ids)
            elif isinstance(action, Publish):
                self._publish(action)
            elif isinstance(action, CallTool) and self._nursery is not None:
                self._nursery.start_soon(self._run_tool, self.conversation, action)

    async def _run_tool(self, conversation: Conversation, call: CallTool) -> None:
        output = await self.plugins.call_tool(call.name, call.arguments)
        self.bus.publish("tool.result", {"call_id": call.call_id, "name": call.name, "output": output})
        if conversation is self.conversation:  # not for a conversation that was restarted meanwhile
            self.apply(conversation.tool_finished(call.call_id, output))

    def _send(self, event: ClientEvent) -> None:
        try:
            self._outbox_send.send_nowait(Outgoing(event))
        except trio.WouldBlock:
            log.error("outbox full: dropped %s", event.get("type"))

    def _stop_playback(self, item_ids: tuple[str, ...]) -> None:
        playback = self.audio.playback
        played: dict[str, float] = {}
        if playback is not None:
            playback.stop()
            played = {item_id: playback.played_ms(item_id) for item_id in item_ids}
            for item_id in item_ids:
                playback.forget(item_id)
        self.apply(self.conversation.playback_stopped(played))

    def _publish(self, action: Publish) -> None:
        kind, data, now = action.type, action.data, time.monotonic()
        if kind == "state.changed":
            state = State(data["state"])
            notify(STATUS=state.value)
            log.info("state: %s", state.value)
            self._note_quiet(state, now)
            self.audio.deliver_promptly(state not in QUIET_STATES)
        elif kind == "user.speech.stopped":
            self.latency.turn_ended(now)
        elif kind == "assistant.response.started":
            self.latency.response_created(now)
        elif kind == "assistant.audio.started":
            self.latency.first_audio(now)
            self._first_delta_at = {data["item_id"]: now}
        elif kind == "assistant.response.done":
            data = {**data, "latency": self.latency.response_done(now).as_dict()}
        elif kind == "assistant.interrupted":
            self.counters.interruptions += 1
            log.info("interrupted after %d ms of %s", data["played_ms"], data["item_id"])
        elif kind == "user.transcript.completed" and data.get("text") and self._nursery is not None:
            self._nursery.start_soon(self.plugins.voice_command, data["text"], data.get("item_id"))
        elif kind == "rate_limits.updated":
            self.rate_limits = data["rate_limits"]
        elif kind == "error":
            log.warning("server error %s: %s", data.get("code"), data.get("message"))
        event = self.bus.publish(kind, data)
        for turn in self.turns.observe(event):
            self._turn_finished(turn)
        if kind == "state.changed" and self._quiet_since is not None:
            waiting, self._when_quiet = self._when_quiet, []
            for callback in waiting:  # after the event: what they cause comes next
                callback()
        if kind == "assistant.response.done" and data.get("usage"):
            self.usage.add(data["usage"], dt.date.today())
            self.bus.publish("usage.updated", self.usage.summary())
            self.listening.spent(self.usage.today_usd)

    def _note_quiet(self, state: State, now: float) -> None:
        if state not in QUIET_STATES:
            self._quiet_since = None
        elif self._quiet_since is None:
            self._quiet_since = now

    def quiet_for(self, now: float) -> float:
        """Seconds since the conversation last went quiet (nobody speaking or thinking)."""
        return 0.0 if self._quiet_since is None else now - self._quiet_since

    def when_quiet(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the assistant has finished what it is saying (now if it has)."""
        if self.conversation.state in QUIET_STATES and not self.conversation.audio_playing:
            callback()
        else:
            self._when_quiet.append(callback)

    def _turn_finished(self, turn: Turn) -> None:
        log.debug("%s turn %s finished (%d chars)", turn.role, turn.item_id, len(turn.text))
        self.plugins.deliver_transcript(turn)
        if turn.role == "assistant" and self.audio.playback is not None:
            self.audio.playback.forget(turn.item_id)

    def _audio_trouble(self, code: str, message: str) -> None:
        """A device went away ("device_lost") or came back ("device_back"); the audio layer logged it."""
        self.bus.publish("error", {"code": code, "message": message, "fatal": False})

    def _playback_drained(self) -> None:
        playback = self.audio.playback
        if playback is not None and playback.queued_ms > 0:
            return  # audio arrived after the audio thread saw the queue run dry
        self.apply(self.conversation.playback_drained())

    def _record_what_is_played(self) -> None:
        playback = self.audio.playback
        if playback is None:
            return
        if playback.rate != WIRE_RATE:
            log.info("recordings leave out the assistant: the output device runs at %d Hz", playback.rate)
            return
        playback.taps.append(lambda pcm, sounds_at: self.plugins.record("out", pcm, sounds_at))

    def _first_sample_played(self, item_id: str, handed_at: float, delay_s: float) -> None:
        """The output callback handed `item_id`'s first sample to the device at `handed_at`
        (monotonic); it is heard `delay_s` later."""
        self.latency.first_played(handed_at + delay_s)
        if (received_at := self._first_delta_at.pop(item_id, None)) is not None:
            self.delta_to_device.add((handed_at - received_at) * 1000)
        self.apply(self.conversation.item_started_playing(item_id))

    # -- for the control methods ------------------------------------------------------

    @property
    def state(self) -> str:
        return self.conversation.state.value

    # -- what plugins may ask of the daemon (voiced.plugin_host.DaemonAPI) ----------------

    @property
    def data_dir(self) -> Path:
        return data_dir()

    def pause(self) -> None:
        self.apply(self.conversation.pause())

    def send_audio_from_now(self) -> None:
        """Send no microphone audio captured before this moment, though some may still be
        on its way (quiet audio travels in batches, see `voiced.audio.capture`)."""
        self._mic_opened_at = time.monotonic()

    def resume(self) -> None:
        if self.conversation.paused:
            self.send_audio_from_now()
        self.apply(self.conversation.resume())

    def standby(self) -> None:
        """Go to standby until woken (in `always` mode, `voicectl wake` wakes it)."""
        self.listening.sleep("asked by a plugin")

    def talk(self, start: bool, seconds: float | None = None) -> None:
        """Push-to-talk; with `seconds`, the turn ends by itself."""
        if start and not self.conversation.talking:
            self.send_audio_from_now()
        self.apply(self.conversation.talk(start))
        if start and seconds is not None and self._nursery is not None:
            self._nursery.start_soon(self._talk_for, seconds)

    async def _talk_for(self, seconds: float) -> None:
        await trio.sleep(seconds)
        self.apply(self.conversation.talk(False))

    def say(self, text: str) -> None:
        self.latency.turn_ended(time.monotonic())
        self.apply(self.conversation.say(text))

    def restart(self) -> None:
        """A new conversation: close the session, forget its state, connect again."""
        if self.audio.playback is not None:
            self.audio.playback.stop()  # the old conversation's voice ends with it
        if self.conversation.connected:
            self.apply(self.conversation.connection_lost("restart"))
        self.start_new_conversation()
        self.sessions.end("restart")

    def start_new_conversation(self) -> None:
        old = self.conversation
        self.conversation = Conversation(session_config(self.settings, self.profile))
        self.conversation.paused, self.conversation.standby = old.paused, old.standby
        self.conversation_id = _new_conversation_id()
        self.turns = TurnRecorder(self.conversation_id)
        self.usage.new_conversation()
        self.drop_outbox()
        log.info("new conversation %s", self.conversation_id)
