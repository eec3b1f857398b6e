"""One MQTT connection: paho-mqtt's client with trio driving its socket.

paho does the protocol (framing, keep-alive, acknowledgements); trio waits on the socket
(`wait_readable` / `wait_writable`) and calls `loop_read`, `loop_write` and, each second,
`loop_misc`. The blocking TCP connect runs in a worker thread. After that every paho call,
and so every callback, happens in the trio thread that runs `serve`.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import paho.mqtt.client as paho
import trio
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from voiced.mqtt_config import MqttConfig

log = logging.getLogger("voiced.plugins.mqtt")

KEEPALIVE_S = 30
MISC_EVERY_S = 1.0


class Refused(Exception):
    """The broker answered CONNECT with a failure (bad credentials, not authorised...)."""


class Connection:
    """A client for one connection attempt: `await open()`, then `serve()` until it drops.

    `on_connected()` runs once the broker has accepted us, `on_message(topic, payload)` for
    each message; both in the trio thread, and they must not block.
    """

    def __init__(self, config: MqttConfig, *, will_topic: str, will_payload: str,
                 on_connected: Callable[[], None], on_message: Callable[[str, bytes], None]) -> None:
        self.client = client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"voiced-{config.node_id}",
                                           clean_session=True)
        self._config = config
        if config.username is not None:
            password = config.password.get_secret_value() if config.password else None
            client.username_pw_set(config.username, password)
        if config.tls:
            client.tls_set(ca_certs=str(config.ca_file) if config.ca_file else None)
        client.will_set(will_topic, will_payload, qos=1, retain=True)
        self._on_connected = on_connected
        self._on_message = on_message
        self._sock: socket.socket | None = None
        self._want_write = trio.Event()
        self._closed = trio.Event()
        self.refused: str | None = None
        self.was_accepted = False

    async def open(self) -> None:
        """Connect (TCP, TLS, CONNECT sent) in a worker thread; OSError when the broker cannot be reached."""
        config = self._config
        assert config.host is not None
        await trio.to_thread.run_sync(self.client.connect, config.host, config.port, KEEPALIVE_S,
                                     abandon_on_cancel=True)
        client = self.client
        client.on_connect = self._connected
        client.on_message = self._message
        client.on_disconnect = self._disconnected
        client.on_socket_close = self._socket_closing
        client.on_socket_register_write = self._register_write
        client.on_socket_unregister_write = self._unregister_write
        sock = client.socket()
        if sock is None:
            raise OSError("the connection closed at once")
        self._sock = sock  # type: ignore[assignment]  # paho's socket type covers TLS and websockets
        if client.want_write():
            self._want_write.set()

    async def serve(self) -> None:
        """Drive the connection until it drops; Refused when the broker turned us away."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read)
            nursery.start_soon(self._write)
            nursery.start_soon(self._misc)
            await self._closed.wait()
            nursery.cancel_scope.cancel()
        if self.refused is not None:
            raise Refused(self.refused)

    def publish(self, topic: str, payload: str, *, retain: bool = False) -> None:
        """Queue a message (QoS 1); nothing happens once the connection is gone."""
        if not self._closed.is_set():
            self.client.publish(topic, payload, qos=1, retain=retain)

    def subscribe(self, topics: list[str]) -> None:
        self.client.subscribe([(topic, 1) for topic in topics])

    def goodbye(self, topic: str, payload: str) -> None:
        """Publish a last retained message and disconnect cleanly (so no last will is sent),
        without waiting: what the socket takes at once is all that goes."""
        if self._closed.is_set() or not self.was_accepted:
            return
        self.client.publish(topic, payload, qos=1, retain=True)
        self.client.disconnect()
        for _ in range(10):
            if not self.client.want_write() or self.client.loop_write() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break

    # -- the loops ----------------------------------------------------------------------

    async def _read(self) -> None:
        while await self._ready(trio.lowlevel.wait_readable):
            self._check(self.client.loop_read())
            # Over TLS the rest of a record is decrypted already and sits in the SSL object,
            # not the kernel: the socket would not turn readable for it (as paho's own loop knows).
            while not self._closed.is_set() and self._pending():
                self._check(self.client.loop_read())

    async def _write(self) -> None:
        while True:
            await self._want_write.wait()
            if not await self._ready(trio.lowlevel.wait_writable):
                return
            self._check(self.client.loop_write())

    def _pending(self) -> bool:
        pending = getattr(self._sock, "pending", None)
        return bool(pending()) if pending is not None else False

    async def _ready(self, wait: Callable[[socket.socket], Awaitable[None]]) -> bool:
        """Wait until the socket is ready; False once paho has closed it (a callback inside
        the other loop's paho call may have, meanwhile)."""
        if self._closed.is_set() or self._sock is None:
            return False
        try:
            await wait(self._sock)
        except (trio.ClosedResourceError, ValueError, OSError):  # ValueError: its fd is already -1
            self._closed.set()
            return False
        return not self._closed.is_set()

    async def _misc(self) -> None:
        while not self._closed.is_set():
            self._check(self.client.loop_misc())
            await trio.sleep(MISC_EVERY_S)

    def _check(self, code: MQTTErrorCode) -> None:
        if code != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._closed.set()

    # -- paho's callbacks (trio thread) -------------------------------------------------

    def _connected(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode,
                   properties: Any) -> None:
        if reason.is_failure:
            self.refused = str(reason)
            client.disconnect()
            return
        self.was_accepted = True
        self._on_connected()

    def _message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self._on_message(message.topic, bytes(message.payload))

    def _disconnected(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode,
                      properties: Any) -> None:
        self._closed.set()

    def _socket_closing(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        trio.lowlevel.notify_closing(sock)
        self._closed.set()

    def _register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._want_write.set()

    def _unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._want_write = trio.Event()
