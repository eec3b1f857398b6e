"""The daemon's wiring: one nursery owning the control socket, the audio, the session and
the plugins, and each part given only what it uses.

Data walks one way. Microphone frames go capture -> microphone -> conversation ->
outbox -> connection; server events go connection -> session keeper -> conversation ->
effects (send, play, stop, publish). Everything else listens on the bus (reactions).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from voiced import logs
from voiced.audio.duplex import Audio
from voiced.bus import Bus, Event
from voiced.config import ConfigError, Settings, data_dir, load_settings, secret_values
from voiced.control import ControlServer, MethodRegistry
from voiced.control.subscriptions import Subscriptions
from voiced.mcp.toolbox import Toolbox
from voiced.pcm import WIRE_RATE
from voiced.realtime.connection import run_session
from voiced.realtime.protocol import realtime_url
from voiced.systemd import inherited_socket, notify, watchdog_interval
from voiced.usage import UsageLedger

from . import reactions
from .current import CurrentConversation
from .effects import Effects
from .listening import AwakeGate, Listening, ListenSettings
from .method_set import register_daemon_methods
from .microphone import Microphone
from .outbox import Counters, Outbox
from .plugins import PluginKeeper
from .push_to_talk import PushToTalk
from .quiet import Quiet, done_speaking
from .reloading import needs_restart, reconnect_needed
from .session_settings import session_from_settings
from .sessions import Connect, SessionKeeper, Target
from .volume import Volume, gain_for

log = logging.getLogger("voiced")


@dataclass(frozen=True)
class Options:
    """What the command line says beyond the configuration."""

    config_path: Path | None = None
    assistant: str | None = None
    simulate: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)


async def run_daemon(settings: Settings, options: Options, *, audio: Audio | None = None,
                     connect: Connect = run_session, on_ready: Callable[[], None] = lambda: None) -> None:
    """Run voiced until SIGTERM/SIGINT or `shutdown`. Start-up errors (socket, devices)
    are raised before `on_ready()` is called; the audio devices are released either way."""
    audio = audio or Audio(settings.audio)
    try:
        async with trio.open_nursery() as nursery:
            daemon = Daemon(settings, options, nursery, audio=audio, connect=connect)
            await daemon.start()
            on_ready()
    finally:
        with trio.CancelScope(shield=True):
            await audio.close()
    log.info("voiced stopped")


class Daemon:
    """One voice assistant, alive from construction to the end of its nursery.

    The parts are typed attributes; plugins see it as a `voiced.plugin_host.DaemonAPI`
    and the control methods drive it through `voiced.daemon.control_methods.Controlled`.
    """

    def __init__(self, settings: Settings, options: Options, nursery: trio.Nursery, *,
                 audio: Audio, connect: Connect = run_session) -> None:
        self.settings = settings
        self.options = options
        self.profile = settings.profile(options.assistant)
        self.audio = audio
        self.url = ""
        self._nursery = nursery
        self._simulator_url: str | None = None
        self.bus = Bus()
        self.counters = Counters()
        self.subscriptions = Subscriptions(self.bus)
        self.methods = MethodRegistry()
        self.control = ControlServer(settings.socket_path, self.methods, inherited=inherited_socket())
        self.current = current = CurrentConversation.begin(session_from_settings(settings, self.profile))
        self.usage = UsageLedger.start(settings.api.model, settings.prices, dt.date.today())
        self.latency = reactions.Latency()
        self.rate_limits = reactions.RateLimits()
        self.outbox = Outbox(self.counters)
        self.quiet = Quiet(lambda: done_speaking(current.conversation))
        self.volume = Volume(data_dir() / "volume.json", apply=self._set_gain)
        self.plugins = PluginKeeper(settings, self, self.methods, on_loaded=self._plugins_loaded)
        self.tools = Toolbox(settings.mcp, plugin_tools=lambda: self.plugins.host.tools(),
                             call_plugin_tool=self.plugins.call_tool, publish=self.bus.publish,
                             changed=lambda: nursery.start_soon(self._prepare_session),
                             run_confirmed=self._run_confirmed)
        self.effects = Effects(current, outbox=self.outbox, speaker=lambda: audio.playback,
                               publish=self.bus.publish, stamp=self._stamp, call_tool=self.tools.call,
                               nursery=nursery)
        self.microphone = Microphone(current, standby_keeps=self._standby_keeps, record=self.plugins.record,
                                     outbox=self.outbox)
        self.push_to_talk = PushToTalk(lambda: current.conversation, self.microphone, self.effects, nursery)
        gate = AwakeGate(awake=settings.listen.mode != "wake")
        self.sessions = SessionKeeper(
            target=self._target, conversing=self.effects, awake=gate,
            outbox=self.outbox.receive, prepare=self._prepare_session,
            finished_turns=lambda: current.turns.finished, publish=self.bus.publish,
            quiet_for=self.quiet.quiet_for, connect=connect)
        self.listening = Listening(
            ListenSettings.of(settings), gate=gate, standby=self.effects, end_session=self.sessions.end,
            send_audio_from_now=self.microphone.send_audio_from_now, play_cue=self._play_cue,
            spent_today=self._spent_today, publish=self.bus.publish, quiet_for=self.quiet.quiet_for,
            when_quiet=self.quiet.when_quiet, wake_detectors=self.plugins.wake_detectors, nursery=nursery)
        self._listen_on_the_bus()
        register_daemon_methods(self.methods, self, self.tools)

    def _listen_on_the_bus(self) -> None:
        current, plugins = self.current, self.plugins
        for listener in (
            reactions.announce_state(self.audio.deliver_promptly),
            self._follow_standby,
            reactions.count_and_log(self.counters),
            self.rate_limits.on_event,
            self.quiet.on_event,
            self.tools.on_event,
            reactions.finished_turns(lambda: current.turns, plugins.deliver_transcript, self._forget_played),
            reactions.voice_commands(self._nursery, plugins.voice_command),
            reactions.usage_and_budget(self.usage, self.bus, self.listening.spent),
        ):
            self.bus.listen(listener)

    async def start(self) -> None:
        """Start every part in the nursery; raise what stops start-up before READY."""
        nursery = self._nursery
        nursery.start_soon(self._handle_signals)
        await nursery.start(self.volume.run)  # the saved level, before a client can set another
        await nursery.start(self.control.serve)
        await nursery.start(self.plugins.run)
        await nursery.start(self.tools.run)
        if self.options.simulate:
            from voiced.simulator import Simulator

            self._simulator_url = await nursery.start(Simulator().serve)
        self.url = self._realtime_url()
        await self.audio.open(on_drained=self._playback_drained, on_item_started=self._first_sample_played)
        self._set_gain(gain_for(self.volume.level))
        self._record_what_is_played()
        nursery.start_soon(self.audio.supervise, self._audio_trouble)
        self.listening.start()
        nursery.start_soon(self.sessions.run)
        assert self.audio.capture is not None, "Audio.open starts the microphone"
        nursery.start_soon(self.microphone.run, self.audio.capture.frames)
        nursery.start_soon(self._every_second)
        nursery.start_soon(self._close_on_stop)
        if (interval := watchdog_interval()) is not None:
            nursery.start_soon(self._feed_watchdog, interval)
        notify(READY="1", STATUS=self.state)
        log.info("voiced ready: control socket %s", self.settings.socket_path)

    def stop(self, after_s: float = 0.0) -> None:
        """End the daemon (after `after_s`): every task is cancelled, resources released."""
        scope = self._nursery.cancel_scope
        if after_s > 0:
            scope.deadline = min(scope.deadline, trio.current_time() + after_s)
        else:
            scope.cancel()
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
        """Re-read the configuration and apply it (README: "What a reload applies"); a bad
        one is logged and the running one kept."""
        try:
            settings = await trio.to_thread.run_sync(
                lambda: load_settings(self.options.config_path, **self.options.overrides))
            profile = settings.profile(self.options.assistant)
        except ConfigError as exc:
            log.error("reload failed, keeping the running configuration: %s", exc)
            return
        for key in needs_restart(self.settings, settings):
            log.warning("%s changed: it applies when voiced restarts", key)
        reconnect = reconnect_needed(self.settings, settings)
        self.settings, self.profile = settings, profile
        logging.getLogger().setLevel("DEBUG" if settings.debug_mode else settings.logging.level.upper())
        for secret in secret_values(settings):
            logs.redact(secret)
        await self.plugins.reload(settings)
        self.tools.reconfigure(settings.mcp)
        self.url = self._realtime_url()
        self.usage.reprice(settings.api.model, settings.prices)
        self.audio.set_vad_threshold(settings.audio.vad_threshold)
        self.listening.reconfigure(ListenSettings.of(settings))
        if reconnect or self.current.conversation.error is not None:
            self.sessions.end("reload")  # the next session is prepared anew; a new key may fix an error
        else:
            await self._prepare_session()  # an open session gets a session.update
        log.info("configuration reloaded")

    # -- the session -----------------------------------------------------------------------

    def _realtime_url(self) -> str:
        return realtime_url(self._simulator_url or self.settings.api.base_url, self.settings.api.model)

    def _target(self) -> Target:
        key = self.settings.api.key  # read anew: a reload may have brought a new one
        return Target(self.url, key.get_secret_value() if key else "simulated",
                      self.settings.api.timeout, self.settings.api.rollover_after_s)

    async def _prepare_session(self) -> None:
        """The session config from the settings, the plugins' tools and hooks, the MCP tools; an open
        session gets it at once, the next one when it is created."""
        base = session_from_settings(self.settings, self.profile)
        session = await self.plugins.session_config(base)
        try:
            json.dumps(session, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            log.error("a plugin made the session configuration unsendable (%s); using it without "
                      "the plugins' changes", exc)
            session = base
        session = self.tools.add_to_session(session)
        self.effects.apply(self.current.conversation.configure(session))

    async def _every_second(self) -> None:
        while True:
            await trio.sleep(1.0)
            now = time.monotonic()
            self.usage.roll_to(dt.date.today())
            self.listening.check(now)
            if self.sessions.due_for_rollover(now):
                self.sessions.end("rollover")

    async def _close_on_stop(self) -> None:
        try:
            await trio.sleep_forever()
        finally:
            self.listening.close()  # this stretch of standby's wake detectors

    async def _feed_watchdog(self, interval: float) -> None:
        """WATCHDOG=1 from the trio loop itself: if the loop hangs, systemd restarts us."""
        while True:
            notify(WATCHDOG="1")
            await trio.sleep(interval)

    # -- small adapters between parts ------------------------------------------------------
    # The microphone is built before listening and the plugins before both, since each
    # needs something of the other: these look the later part up when called.

    def _standby_keeps(self, pcm: bytes) -> bool:
        return self.listening.hear(pcm)

    def _follow_standby(self, event: Event) -> None:
        # Standby reads the microphone in long periods: most of what listening costs is wake-ups.
        if event.type == "state.changed":
            self.audio.standby(event.data["state"] == "standby")

    def _spent_today(self) -> float | None:
        self.usage.roll_to(dt.date.today())
        return self.usage.today_usd

    def _plugins_loaded(self) -> None:
        self.listening.plugins_changed()

    def _stamp(self, type_: str, data: dict[str, Any]) -> dict[str, Any]:
        return self.tools.stamp(type_, self.latency.stamp(type_, data))

    def _run_confirmed(self, call_id: str, name: str, arguments: str) -> None:
        self.effects.apply(self.current.conversation.run_confirmed(call_id, name, arguments))

    def _play_cue(self, pcm: bytes) -> None:
        if self.audio.playback is not None:
            self.audio.playback.enqueue("cue", pcm)

    def _set_gain(self, gain: float) -> None:
        if self.audio.playback is not None:
            self.audio.playback.gain = gain

    def _forget_played(self, item_id: str) -> None:
        if self.audio.playback is not None:
            self.audio.playback.forget(item_id)

    def _audio_trouble(self, code: str, message: str) -> None:
        """A device went away ("device_lost") or came back ("device_back"); the audio layer logged it."""
        self.bus.publish("error", {"code": code, "message": message, "fatal": False})

    def _playback_drained(self) -> None:
        playback = self.audio.playback
        self.effects.playback_drained(playback.queued_ms if playback is not None else 0.0)

    def _first_sample_played(self, item_id: str, handed_at: float, delay_s: float) -> None:
        self.latency.first_sample_played(item_id, handed_at, delay_s)
        self.effects.item_started_playing(item_id)

    def _record_what_is_played(self) -> None:
        playback = self.audio.playback
        if playback is None:
            return
        if playback.rate != WIRE_RATE:
            log.info("recordings leave out the assistant: the output device runs at %d Hz", playback.rate)
            return
        record = self.plugins.record
        playback.taps.append(lambda pcm, sounds_at: record("out", pcm, sounds_at))

    # -- what plugins and the control methods ask of the daemon ----------------------------

    @property
    def state(self) -> str:
        return self.current.conversation.state.value

    @property
    def simulated(self) -> bool:
        return self.options.simulate

    @property
    def conversation_id(self) -> str:
        return self.current.id

    @property
    def data_dir(self) -> Path:
        return data_dir()

    def pause(self) -> None:
        self.effects.apply(self.current.conversation.pause())

    def resume(self) -> None:
        conversation = self.current.conversation
        if conversation.paused:
            self.microphone.send_audio_from_now()
        self.effects.apply(conversation.resume())

    def interrupt(self) -> bool:
        """Stop the assistant now; False when it was not answering."""
        actions = self.current.conversation.interrupt()
        self.effects.apply(actions)
        return bool(actions)

    def standby(self) -> None:
        """Go to standby until woken (in `always` mode, `voicectl wake` wakes it)."""
        self.listening.sleep("asked by a plugin")

    def talk(self, start: bool, seconds: float | None = None) -> None:
        """Push-to-talk (`voiced.daemon.push_to_talk`)."""
        self.push_to_talk.talk(start, seconds)

    def say(self, text: str) -> None:
        self.latency.typed_turn()
        self.effects.apply(self.current.conversation.say(text))

    def announce(self, text: str) -> None:
        """The assistant says `text`; from standby it wakes for it and goes back once it is said.
        Raises OverBudget when it would have to wake and the day is spent."""
        woke = not self.listening.awake and self.listening.wake("announcement")
        self.effects.apply(self.current.conversation.announce(text))
        if woke:
            self.listening.sleep_once_quiet("announcement said")

    def restart(self) -> None:
        """A new conversation: close the session, forget its state, connect again."""
        self.push_to_talk.cancel()
        if self.audio.playback is not None:
            self.audio.playback.stop()  # the old conversation's voice ends with it
        if self.current.conversation.connected:
            self.effects.apply(self.current.conversation.connection_lost("restart"))
        self.current.replace(session_from_settings(self.settings, self.profile))
        self.usage.new_conversation()
        self.outbox.drop()
        log.info("new conversation %s", self.current.id)
        self.sessions.end("restart")

    def when_quiet(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the assistant has finished what it is saying (now if it has)."""
        self.quiet.when_quiet(callback)
