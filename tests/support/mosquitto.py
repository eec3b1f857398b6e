"""A real MQTT broker for the tests (mosquitto on a free loopback port), and a client that
plays Home Assistant: it records every message and publishes what Home Assistant would."""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.processes import wait_for

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """mosquitto with no persistence (a restart forgets retained messages) on `port`."""

    def __init__(self, folder: Path, *, users: dict[str, str] | None = None) -> None:
        path = shutil.which("mosquitto") or (MOSQUITTO if Path(MOSQUITTO).exists() else None)
        if path is None:
            raise AssertionError("mosquitto is missing: apt-get install -y mosquitto")
        self.binary = path
        self.folder = folder
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        # Started as root, mosquitto would become the `mosquitto` user, which cannot read our files.
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", "log_dest stderr",
                 f"user {getpass.getuser()}"]
        if users:
            passwords = folder / "mosquitto.passwd"
            passwords.touch(mode=0o600)
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password], check=True,
                               capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        log = (self.folder / "mosquitto.log").open("ab")
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=log, stderr=log)
        wait_for(self._accepts, 10, f"mosquitto on port {self.port}")

    def _accepts(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"mosquitto exited: {(self.folder / 'mosquitto.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()


class HomeAssistant:
    """A client that subscribes to everything and keeps each message (topic, payload, retained)."""

    def __init__(self, broker: Broker, *, discovery_prefix: str = "homeassistant",
                 login: tuple[str, str] | None = None) -> None:
        self.prefix = discovery_prefix
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="home-assistant-test")
        if login is not None:
            self.client.username_pw_set(*login)
        self.client.on_connect = lambda client, *_: client.subscribe("#", qos=1)
        self.client.on_message = self._message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def _message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def mark(self) -> int:
        """Where the messages stand now: `on(..., since=mark)` sees only later ones."""
        with self._lock:
            return len(self.messages)

    def on(self, topic: str, since: int = 0) -> list[bytes]:
        with self._lock:
            return [payload for t, payload, _ in self.messages[since:] if t == topic]

    def wait(self, topic: str, count: int = 1, timeout: float = 20.0) -> list[bytes]:
        return wait_for(lambda: len(self.on(topic)) >= count and self.on(topic), timeout,
                        f"{count} message(s) on {topic}")

    def last_json(self, topic: str) -> dict[str, Any]:
        return json.loads(self.wait(topic)[-1])

    def wait_json(self, topic: str, check: Any, timeout: float = 20.0, what: str = "",
                  since: int = 0) -> dict[str, Any]:
        """The latest JSON payload on `topic` (after `since`) for which `check` is true, once there is one."""
        def found() -> dict[str, Any] | None:
            for payload in reversed(self.on(topic, since)):
                try:
                    value = json.loads(payload)
                except ValueError:
                    continue
                if check(value):
                    return value
            return None
        return wait_for(found, timeout, what or f"a matching message on {topic}")

    def discovery(self, node_id: str, count: int = 1) -> dict[str, Any]:
        return json.loads(self.wait(f"{self.prefix}/device/{node_id}/config", count)[-1])

    def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)

    def forget(self) -> None:
        with self._lock:
            self.messages.clear()

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

