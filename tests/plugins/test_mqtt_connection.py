"""paho driven by trio against a real mosquitto: messages both ways, a refusal, no broker."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from plugins.mqtt.connection import Connection, Refused
from tests.support.mosquitto import Broker, free_port
from voiced.mqtt_config import MqttConfig


def connection(config: MqttConfig, received: list[tuple[str, bytes]], connected: trio.Event) -> Connection:
    return Connection(config, will_topic="voiced/test/availability", will_payload="offline",
                      on_connected=connected.set, on_message=lambda t, p: received.append((t, p)))


def test_a_message_goes_out_and_comes_back(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    received: list[tuple[str, bytes]] = []

    async def main() -> None:
        connected = trio.Event()
        conn = connection(MqttConfig(host="127.0.0.1", port=broker.port, node_id="test"), received, connected)
        await conn.open()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(conn.serve)
            await connected.wait()
            conn.subscribe(["echo/#"])
            big = "x" * 300_000  # more than one write: the writable wait is exercised
            while not received:
                conn.publish("echo/big", big)
                await trio.sleep(0.2)
            conn.goodbye("voiced/test/availability", "offline")
        assert received[0] == ("echo/big", big.encode())

    try:
        trio.run(main)
    finally:
        broker.stop()


def test_a_wrong_password_is_refused(tmp_path: Path) -> None:
    broker = Broker(tmp_path, users={"voiced": "right"})

    async def main() -> None:
        config = MqttConfig(host="127.0.0.1", port=broker.port, node_id="test", username="voiced",
                            password="wrong")
        conn = connection(config, [], trio.Event())
        await conn.open()
        with pytest.raises(Refused, match=r"authori[sz]ed"):
            await conn.serve()

    try:
        trio.run(main)
    finally:
        broker.stop()


def test_no_broker_is_an_oserror() -> None:
    async def main() -> None:
        conn = connection(MqttConfig(host="127.0.0.1", port=free_port(), node_id="test"), [], trio.Event())
        with pytest.raises(OSError):
            await conn.open()

    trio.run(main)
