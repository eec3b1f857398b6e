"""The mqtt plugin's pure parts: settings, topics, the discovery message, commands, retries."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from plugins.mqtt.bridge import LONGEST_RETRY_S, retry_delay
from plugins.mqtt.commands import MAX_ANNOUNCEMENT, BadPayload, Command, parse
from plugins.mqtt.discovery import COMMANDS, STATES, Topics, discovery_payload
from voiced.config import Settings, masked, secret_values
from voiced.mqtt_config import MqttConfig, node_id_of


def test_the_node_id_comes_from_the_host_name_reduced() -> None:
    assert node_id_of("Kitchen-Pi.local") == "kitchen-pi"
    assert node_id_of("büro pc") == "b_ro_pc"
    assert node_id_of("...") == "voiced"
    assert MqttConfig().node_id == node_id_of(__import__("socket").gethostname())


@pytest.mark.parametrize("field, value", [("node_id", "Kitchen"), ("node_id", "a/b"), ("node_id", ""),
                                          ("discovery_prefix", "home/#"), ("base_topic", "voiced/+/x"),
                                          ("base_topic", "voiced/"), ("ca_file", "certs/ca.pem"),
                                          ("port", 0)])
def test_bad_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        MqttConfig(**{field: value})


def test_the_password_is_a_secret() -> None:
    settings = Settings(mqtt={"host": "broker", "username": "voiced", "password": "s3cret-pw"})
    assert "s3cret-pw" in list(secret_values(settings))
    assert "s3cret-pw" not in str(masked(settings)) and "s3cret-pw" not in repr(settings)
    assert settings.mqtt.topic == f"voiced/{settings.mqtt.node_id}"
    assert Settings(mqtt={"base_topic": "home/voice"}).mqtt.topic == "home/voice"


def test_the_discovery_message_names_every_topic_the_bridge_uses() -> None:
    topics = Topics.of(MqttConfig(host="broker", node_id="den"))
    payload = discovery_payload(topics, name="voiced den", version="1.2.3")
    assert topics.discovery == "homeassistant/device/den/config"
    assert payload["device"]["sw_version"] == "1.2.3" and payload["origin"]["name"] == "voiced"
    assert payload["availability"] == [{"topic": "voiced/den/availability", "payload_available": "online",
                                        "payload_not_available": "offline"}]
    components = payload["components"]
    commands = {c["command_topic"] for c in components.values() if "command_topic" in c}
    assert commands == {topics.command(name) for name in COMMANDS}
    assert all(topics.command_of(topics.command(name)) == name for name in COMMANDS)
    assert topics.command_of("voiced/den/state") is None
    assert components["state"]["options"] == STATES
    assert components["transcript"]["event_types"] == ["user", "assistant"]
    assert components["volume"]["min"] == 0 and components["volume"]["max"] == 100
    assert len({c["unique_id"] for c in components.values()}) == len(components)


@pytest.mark.parametrize("name, payload, command", [
    ("paused", b"ON", Command("paused", True)), ("paused", b"OFF", Command("paused", False)),
    ("interrupt", b"PRESS", Command("interrupt")), ("wake", b"PRESS", Command("wake")),
    ("sleep", b"PRESS", Command("sleep")), ("listen_mode", b"wake", Command("listen_mode", "wake")),
    ("volume", b"40", Command("volume", 40)), ("volume", b"40.0", Command("volume", 40)),
    ("announce", "Grüß dich!\nCome down.".encode(), Command("announce", "Grüß dich!\nCome down.")),
])
def test_valid_payloads(name: str, payload: bytes, command: Command) -> None:
    assert parse(name, payload) == command


@pytest.mark.parametrize("name, payload", [
    ("paused", b"on"), ("paused", b""), ("interrupt", b"press"), ("listen_mode", b"push_to_talk"),
    ("volume", b"101"), ("volume", b"-1"), ("volume", b"nan"), ("volume", b"inf"), ("volume", b"4.5"),
    ("volume", b"ten"), ("announce", b""), ("announce", b"  \n"), ("announce", b"\xff\xfe"),
    ("announce", b"x" * (MAX_ANNOUNCEMENT + 1)), ("announce", b"\x1b[2J"), ("restart", b"PRESS"),
])
def test_invalid_payloads_are_refused_with_a_reason(name: str, payload: bytes) -> None:
    with pytest.raises(BadPayload) as refused:
        parse(name, payload)
    assert str(refused.value).startswith(("expected", "not UTF-8", "no such command"))


def test_retries_back_off_to_a_minute_with_jitter() -> None:
    rng = random.Random(1)
    for failures, base in [(0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (50, 60.0)]:
        delays = [retry_delay(failures, rng) for _ in range(50)]
        assert all(base * 0.5 <= d <= base for d in delays)
        assert len(set(delays)) > 1
    assert retry_delay(1000, rng) <= LONGEST_RETRY_S
