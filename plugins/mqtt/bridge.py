"""The bridge: voiced's state and transcripts out to the broker, Home Assistant's commands in.

It runs in a thread of its own with its own trio loop (plugins get no nursery of the
daemon's, and this way nothing the broker does can reach the daemon's loop): events
arrive through `post`, which never waits, and commands reach the daemon through the
thread-safe plugin view from worker threads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import trio

from voiced.mqtt_config import MqttConfig
from voiced.plugin_host import DaemonAPI, StatusLine
from voiced.timing import backoff_delay

from .commands import BadPayload, Command, parse
from .connection import Connection, Refused
from .discovery import COMMANDS, OFFLINE, ONLINE, Topics, discovery_payload
from .presence import NODES, NODES_TOPIC, Presence, node_entry, node_topic
from .rooms import CLAIMS_TOPIC, WINDOW_S, RoomClaim, Rooms, parse_claim

log = logging.getLogger("voiced.plugins.mqtt")

FIRST_RETRY_S = 1.0
LONGEST_RETRY_S = 60.0
INBOX = 256
MAX_TEXT = 10_000
"""Characters of a transcript sent (an entity's attributes, not its 255-character state)."""
MAX_ERROR = 250
SETTINGS_EVERY_S = 1.0


def retry_delay(failures: int, rng: random.Random) -> float:
    """Seconds before the next attempt: doubling from 1 s up to a minute, jittered, so that
    many daemons do not all knock at once after the broker restarts."""
    return backoff_delay(failures, rng, first_s=FIRST_RETRY_S, cap_s=LONGEST_RETRY_S)


def shown(payload: bytes) -> str:
    """A payload for the log: short, and safe to print."""
    return repr(payload[:40]) + ("..." if len(payload) > 40 else "")


class Bridge:
    """One configuration's bridge: `start()` from any thread, `post()` events, `stop()`."""

    def __init__(self, config: MqttConfig, daemon: DaemonAPI, *, version: str,
                 report: Callable[[StatusLine], None]) -> None:
        self.config = config
        self.topics = Topics.of(config)
        self._daemon = daemon
        self._version = version
        self._report = report
        self._where = f"{config.host}:{config.port}"
        self._state: dict[str, Any] = {"state": daemon.state, "paused": daemon.state == "paused",
                                       "listen_mode": daemon.listening.mode, "volume": daemon.volume.level,
                                       "cost_today_usd": 0.0, "last_error": None}
        self._connection: Connection | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope = trio.CancelScope()
        self._started = threading.Event()
        self._thread = threading.Thread(target=trio.run, args=(self._main,), name="voiced-mqtt", daemon=True)
        self._inbox_send, self._inbox = trio.open_memory_channel[tuple[str, dict[str, Any]]](INBOX)
        self._commands_send, self._commands = trio.open_memory_channel[tuple[str, bytes]](INBOX)
        self._rng = random.Random()
        self._rooms = Rooms(config.node_id)
        self._presence = Presence(config.node_id)
        self._presence_moved: trio.Event | None = None
        self._nursery: trio.Nursery | None = None

    # -- any thread ---------------------------------------------------------------------

    def start(self) -> None:
        self._report(StatusLine(False, f"connecting to {self._where}"))
        self._thread.start()
        self._started.wait(10)

    def stop(self, timeout: float = 4.0) -> None:
        """Say "offline", disconnect and end the thread (waiting `timeout` at most)."""
        if self._token is not None:
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(self._scope.cancel)
        self._thread.join(timeout)

    def post(self, kind: str, data: dict[str, Any]) -> None:
        """Hand over an event (`kind` an event type, or `transcript`); never waits, and drops it
        when the bridge is far behind."""
        if self._token is None:
            return
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(self._take, kind, data)

    # -- the bridge's trio thread -------------------------------------------------------

    def _take(self, kind: str, data: dict[str, Any]) -> None:
        try:
            self._inbox_send.send_nowait((kind, data))
        except trio.WouldBlock:
            log.debug("mqtt: %s dropped, the bridge is behind", kind)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._presence_moved = trio.Event()
        self._started.set()
        with self._scope:
            try:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self._follow_daemon)
                    nursery.start_soon(self._follow_settings)
                    nursery.start_soon(self._run_commands)
                    nursery.start_soon(self._follow_presence)
                    await self._stay_connected()
            finally:
                if self._connection is not None:
                    self._connection.goodbye(self.topics.availability, OFFLINE)
        log.info("mqtt bridge stopped")

    async def _stay_connected(self) -> None:
        failures = 0
        while True:
            try:
                connection = Connection(self.config, will_topic=self.topics.availability,
                                        will_payload=OFFLINE, on_connected=self._connected,
                                        on_message=self._message)
                await connection.open()
                self._connection = connection
                await connection.serve()
            except OSError as exc:
                failures += 1
                self._trouble(f"cannot reach the broker {self._where}: {exc.strerror or exc}", failures)
            except Refused as exc:
                failures += 1
                self._trouble(f"the broker {self._where} refused the connection: {exc}", failures)
            except Exception as exc:  # a bug here must cost a reconnect, never the bridge
                log.exception("mqtt: the connection failed")
                failures += 1
                self._trouble(f"the connection to {self._where} failed: {exc}", failures)
            else:
                failures = 0 if connection.was_accepted else failures + 1
                self._trouble(f"the connection to the broker {self._where} was lost; reconnecting", failures)
            finally:
                self._connection = None
                if self._presence.forget():
                    self._others_moved()
            await trio.sleep(retry_delay(failures, self._rng))

    def _trouble(self, message: str, failures: int) -> None:
        # Once a warning, then quietly: an unreachable broker is a status line, not a log flood.
        log.log(logging.WARNING if failures <= 1 else logging.DEBUG, "mqtt: %s", message)
        self._report(StatusLine(False, message))

    def _connected(self) -> None:
        connection = self._connection
        assert connection is not None
        log.info("mqtt: connected to %s as %s", self._where, self.config.node_id)
        self._report_connected()
        connection.publish(self.topics.availability, ONLINE, retain=True)
        connection.publish(node_topic(self.config.node_id), node_entry(self.topics.availability), retain=True)
        connection.subscribe([self.topics.home_assistant_status, *map(self.topics.command, COMMANDS),
                              CLAIMS_TOPIC, NODES_TOPIC])
        self._announce()

    def _announce(self) -> None:
        """Discovery, then where things stand (Home Assistant has just started, or we have)."""
        if self._connection is None:
            return
        name = f"voiced {self.config.node_id}"
        payload = discovery_payload(self.topics, name=name, version=self._version)
        self._connection.publish(self.topics.discovery, json.dumps(payload), retain=True)
        self._publish_state()

    def _publish_state(self) -> None:
        if self._connection is not None:
            self._connection.publish(self.topics.state, json.dumps(self._state), retain=True)

    def _message(self, topic: str, payload: bytes) -> None:
        if topic.startswith(NODES):
            follow = self._presence.listed(topic, payload)
            if follow is not None and self._connection is not None:
                self._connection.subscribe([follow])
            self._others_moved()  # a node forgotten, or one that moved, is no longer online
            return
        if self._presence.follows(topic):
            if self._presence.available(topic, payload):
                self._others_moved()
            return
        if topic == CLAIMS_TOPIC:
            claim = parse_claim(payload)
            defence = None if claim is None else self._rooms.heard(claim)
            if claim is not None and defence is not None and self._connection is not None:
                log.info("mqtt: %s woke later on what this room answers", claim.node_id)
                self._connection.publish(CLAIMS_TOPIC, defence.payload())
            return
        if topic == self.topics.home_assistant_status:
            if payload.strip() == ONLINE.encode():
                log.info("mqtt: Home Assistant is online: sending discovery again")
                self._announce()
            return
        name = self.topics.command_of(topic)
        if name is None:
            return
        try:
            self._commands_send.send_nowait((name, payload))
        except trio.WouldBlock:
            log.warning("mqtt: too many commands at once, ignoring one on %s", topic)

    # -- several rooms ----------------------------------------------------------------------

    def _report_connected(self) -> None:
        others = self._presence.others_online
        rooms = f"; other rooms online: {', '.join(others)}" if others else "; the only voiced on the broker"
        self._report(StatusLine(True, f"connected to {self._where} as {self.config.node_id}{rooms}"))

    def _others_moved(self) -> None:
        if self._presence_moved is not None:
            self._presence_moved.set()

    async def _follow_presence(self) -> None:
        """Hand the daemon our claims only while another voiced is online: a voiced alone on
        the broker wakes at once, without the claim window."""
        arbitrating = False
        while True:
            assert self._presence_moved is not None
            await self._presence_moved.wait()
            self._presence_moved = trio.Event()
            if self._connection is not None:
                self._report_connected()
            others = self._presence.others_online
            if bool(others) != arbitrating:
                arbitrating = bool(others)
                log.info("mqtt: %s", f"other rooms online ({', '.join(others)}): the loudest answers"
                         if arbitrating else "no other room online: this one answers at once")
                with contextlib.suppress(trio.RunFinishedError):  # the daemon is stopping
                    await trio.to_thread.run_sync(self._daemon.listening.set_arbiter,
                                                  self.claim if arbitrating else None)

    def claim(self, loudness_dbfs: float, decide: Callable[[bool], None]) -> None:
        """The daemon's wake arbiter (called on the daemon's thread): publish our claim and
        decide once the window has passed. Without a broker, this room answers at once."""
        if self._token is None:
            decide(True)
            return
        try:
            self._token.run_sync_soon(self._claim, loudness_dbfs, decide)
        except trio.RunFinishedError:
            decide(True)

    def _claim(self, loudness_dbfs: float, decide: Callable[[bool], None]) -> None:
        if self._connection is None or self._nursery is None or not self._presence.others_online:
            decide(True)
            return
        ours, made_at = self._rooms.ours(loudness_dbfs)
        self._connection.publish(CLAIMS_TOPIC, ours.payload())
        self._nursery.start_soon(self._settle_claim, ours, made_at, decide)

    async def _settle_claim(self, ours: RoomClaim, made_at: float, decide: Callable[[bool], None]) -> None:
        await trio.sleep(WINDOW_S)
        won = self._rooms.won(ours, made_at)
        log.info("mqtt: %s the claim to answer (%.1f dBFS)", "won" if won else "lost", ours.loudness_dbfs)
        decide(won)

    async def _run_commands(self) -> None:
        async for name, payload in self._commands:
            try:
                command = parse(name, payload)
            except BadPayload as exc:
                log.warning("mqtt: ignoring %s on %s: %s", shown(payload), self.topics.command(name), exc)
                continue
            try:
                await trio.to_thread.run_sync(self._act, command)
            except Exception as exc:  # the daemon said no (over budget...): Home Assistant is told by state
                log.warning("mqtt: %s failed: %s", command.name, exc)
            self._settings_changed()
            self._publish_state()

    def _settings_changed(self) -> bool:
        """Read the volume and listen mode again (no event says when `voicectl` changes them)."""
        now = {"listen_mode": self._daemon.listening.mode, "volume": self._daemon.volume.level}
        changed = any(self._state[key] != value for key, value in now.items())
        self._state.update(now)
        return changed

    async def _follow_settings(self) -> None:
        while True:
            await trio.sleep(SETTINGS_EVERY_S)
            if self._settings_changed():
                self._publish_state()

    def _act(self, command: Command) -> None:
        """Carry out a valid command (in a worker thread: the daemon view waits for the daemon)."""
        daemon, value = self._daemon, command.value
        if command.name == "paused":
            daemon.pause() if value else daemon.resume()
        elif command.name == "interrupt":
            daemon.interrupt()
        elif command.name == "wake":
            daemon.listening.wake("Home Assistant")
        elif command.name == "sleep":
            daemon.listening.sleep("Home Assistant")
        elif command.name == "listen_mode" and value in ("always", "wake"):
            daemon.listening.set_mode("always" if value == "always" else "wake")
        elif command.name == "volume" and isinstance(value, int):
            daemon.volume.set(value)
        elif command.name == "announce" and isinstance(value, str):
            daemon.announce(value)

    async def _follow_daemon(self) -> None:
        async for kind, data in self._inbox:
            if kind == "transcript":
                if self._connection is not None:
                    self._connection.publish(self.topics.transcript, json.dumps(data))
                continue
            if kind == "state.changed":
                state = data.get("state")
                self._state.update(state=state, paused=state == "paused")
            elif kind == "usage.updated":
                self._state["cost_today_usd"] = (data.get("today") or {}).get("cost_usd") or 0.0
            elif kind == "error":
                error = str(data.get("message") or data.get("code") or "error")
                self._state["last_error"] = error[:MAX_ERROR]
            else:
                continue
            self._publish_state()
