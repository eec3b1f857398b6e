"""The mqtt plugin against a real mosquitto, a real voiced and the simulator, with a test
client in Home Assistant's place that drives voiced only through the topics the discovery
message names."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.mosquitto import Broker, HomeAssistant, free_port
from tests.support.processes import DaemonProcess, EventReader, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import PulseServer

NODE = "kitchen"


def mqtt_config(port: int, extra: str = "") -> str:
    return f'[listen]\ncues = false\n[mqtt]\nhost = "127.0.0.1"\nport = {port}\nnode_id = "{NODE}"\n{extra}'


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def home_assistant(broker: Broker) -> Iterator[HomeAssistant]:
    client = HomeAssistant(broker)
    yield client
    client.stop()


def start(tmp_path: Path, pulse: PulseServer, processes: list, config: str) -> DaemonProcess:
    simulator = SimulatorProcess(tmp_path)
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), config=config)
    processes += [simulator, daemon]
    return daemon


def topic(discovery: dict[str, Any], component: str, key: str = "command_topic") -> str:
    return discovery["components"][component][key]


def state_of(home_assistant: HomeAssistant, discovery: dict[str, Any]) -> dict[str, Any]:
    return home_assistant.last_json(topic(discovery, "state", "state_topic"))


def wait_state(home_assistant: HomeAssistant, discovery: dict[str, Any], what: str, since: int = 0,
               **expected: Any) -> None:
    def matches(state: dict[str, Any]) -> bool:
        return all(state.get(k) == v for k, v in expected.items())

    home_assistant.wait_json(topic(discovery, "state", "state_topic"), matches, what=what, since=since)


def test_home_assistant_sees_and_drives_voiced(
        tmp_path: Path, pulse: PulseServer, processes: list, broker: Broker,
        home_assistant: HomeAssistant) -> None:
    daemon = start(tmp_path, pulse, processes, mqtt_config(broker.port))
    discovery = home_assistant.discovery(NODE)
    assert discovery["device"]["identifiers"] == [f"voiced_{NODE}"]
    assert set(discovery["components"]) >= {"state", "paused", "interrupt", "wake", "sleep", "listen_mode",
                                            "volume", "transcript", "announce", "cost_today", "last_error"}
    [availability] = discovery["availability"]
    assert home_assistant.wait(availability["topic"])[-1] == availability["payload_available"].encode()
    wait_state(home_assistant, discovery, "listening", state="listening", paused=False, volume=100)

    home_assistant.publish(topic(discovery, "paused"), "ON")
    wait_state(home_assistant, discovery, "paused", state="paused", paused=True)
    assert daemon.status()["paused"] is True
    home_assistant.publish(topic(discovery, "paused"), "OFF")
    wait_state(home_assistant, discovery, "resumed", state="listening", paused=False)

    home_assistant.publish(topic(discovery, "volume"), "30")
    wait_state(home_assistant, discovery, "volume 30", volume=30)
    assert daemon.rpc("volume")["result"] == {"level": 30}
    assert daemon.voicectl("volume", "45").returncode == 0  # set elsewhere: Home Assistant hears of it
    wait_state(home_assistant, discovery, "volume 45", volume=45)

    home_assistant.publish(topic(discovery, "listen_mode"), "wake")
    wait_state(home_assistant, discovery, "wake mode", listen_mode="wake")
    assert daemon.status()["listen"]["mode"] == "wake"
    home_assistant.publish(topic(discovery, "sleep"), "PRESS")
    wait_state(home_assistant, discovery, "standby", state="standby")
    home_assistant.publish(topic(discovery, "wake"), "PRESS")
    wait_state(home_assistant, discovery, "awake", state="listening")
    home_assistant.publish(topic(discovery, "listen_mode"), "always")
    wait_state(home_assistant, discovery, "always", listen_mode="always")

    transcripts = topic(discovery, "transcript", "state_topic")
    home_assistant.publish(topic(discovery, "announce"), "Dinner is ready.")
    said = home_assistant.wait_json(transcripts, lambda t: t["event_type"] == "assistant", what="transcript")
    assert said["text"] == "Dinner is ready."
    assert said["event_type"] in discovery["components"]["transcript"]["event_types"]

    events = EventReader(daemon.socket, ["assistant.interrupted", "state.changed"])
    mark = home_assistant.mark()
    home_assistant.publish(topic(discovery, "announce"), " ".join(["A long announcement."] * 30))
    wait_state(home_assistant, discovery, "speaking", since=mark, state="speaking")
    home_assistant.publish(topic(discovery, "interrupt"), "PRESS")
    events.wait_for("assistant.interrupted")
    events.close()

    cost = discovery["components"]["cost_today"]
    assert cost["device_class"] == "monetary" and cost["entity_category"] == "diagnostic"
    assert isinstance(state_of(home_assistant, discovery)["cost_today_usd"], float)


def test_garbage_on_every_command_topic_changes_nothing(
        tmp_path: Path, pulse: PulseServer, processes: list, broker: Broker,
        home_assistant: HomeAssistant) -> None:
    daemon = start(tmp_path, pulse, processes, mqtt_config(broker.port))
    discovery = home_assistant.discovery(NODE)
    wait_state(home_assistant, discovery, "listening", state="listening")
    before = daemon.status()
    commands = [c["command_topic"] for c in discovery["components"].values() if "command_topic" in c]
    assert len(commands) == 7
    # Not text, no text, too much text, or a terminal's escape: wrong for every command.
    garbage: list[bytes] = [b"", b"\xff\xfe\x00", b"\n", b"x" * 5000, b"\x1b[2J", b"bell\x07"]
    # Any text is an announcement; for the others these are wrong too.
    not_for_the_others = [b"maybe", b"PRESSED", b"-1", b"101", b"nan", b"1e400", b"50.5", b"on",
                          b'{"level": 10}', b"push_to_talk"]
    sent = 0
    for command in commands:
        for payload in garbage + ([] if command.endswith("/announce/set") else not_for_the_others):
            home_assistant.publish(command, payload)
            sent += 1
    # Commands are carried out in order: once this one is seen, every piece of garbage was read.
    home_assistant.publish(topic(discovery, "volume"), "55")
    wait_state(home_assistant, discovery, "volume 55", volume=55)
    after = daemon.status()
    assert after["state"] == before["state"] == "listening"
    assert after["paused"] is False and after["listen"] == before["listen"]
    assert after["pid"] == before["pid"]
    assert after["counts"]["responses"] == before["counts"]["responses"]
    assert not home_assistant.on(topic(discovery, "transcript", "state_topic"))
    log = daemon.log_file().read_text()
    assert log.count("mqtt: ignoring") == sent


def test_kill_9_makes_offline_arrive_through_the_last_will(
        tmp_path: Path, pulse: PulseServer, processes: list, broker: Broker,
        home_assistant: HomeAssistant) -> None:
    daemon = start(tmp_path, pulse, processes, mqtt_config(broker.port))
    availability = home_assistant.discovery(NODE)["availability"][0]["topic"]
    home_assistant.wait(availability)
    assert home_assistant.on(availability)[-1] == b"online"
    daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait(10)
    processes.remove(daemon)
    wait_for(lambda: home_assistant.on(availability)[-1] == b"offline", 60, "offline by the last will")


def test_a_clean_stop_says_offline(
        tmp_path: Path, pulse: PulseServer, processes: list, broker: Broker,
        home_assistant: HomeAssistant) -> None:
    daemon = start(tmp_path, pulse, processes, mqtt_config(broker.port))
    availability = home_assistant.discovery(NODE)["availability"][0]["topic"]
    home_assistant.wait(availability)
    assert daemon.terminate() == 0
    wait_for(lambda: home_assistant.on(availability)[-1] == b"offline", 10, "offline on a clean stop")


def test_a_broker_restart_brings_a_reconnect_and_fresh_discovery(
        tmp_path: Path, pulse: PulseServer, processes: list, broker: Broker,
        home_assistant: HomeAssistant) -> None:
    daemon = start(tmp_path, pulse, processes, mqtt_config(broker.port))
    discovery_topic = f"homeassistant/device/{NODE}/config"
    home_assistant.wait(discovery_topic)
    broker.restart()  # no persistence: the retained discovery is gone with it
    home_assistant.forget()
    home_assistant.wait(discovery_topic, timeout=60)
    assert home_assistant.on("voiced/kitchen/availability")[-1] == b"online"
    plugins = {p["name"]: p for p in daemon.rpc("plugins")["result"]["plugins"]}
    assert plugins["mqtt"]["status_line"]["ok"] is True

    # Home Assistant restarting says so on its status topic: discovery comes again.
    count = len(home_assistant.on(discovery_topic))
    home_assistant.publish("homeassistant/status", "online")
    home_assistant.wait(discovery_topic, count + 1)


def test_an_unreachable_broker_is_a_status_line_not_an_error_loop(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    daemon = start(tmp_path, pulse, processes, mqtt_config(free_port()))

    def line() -> dict[str, Any] | None:
        plugins = {p["name"]: p for p in daemon.rpc("plugins")["result"]["plugins"]}
        found = plugins["mqtt"]["status_line"]
        return found if found and "cannot reach" in found["text"] else None

    status_line = wait_for(line, 20, "the unreachable broker in the plugins status")
    assert status_line["ok"] is False
    human = daemon.voicectl("plugins")
    assert "cannot reach the broker 127.0.0.1" in human.stdout
    doctor = daemon.voicectl("doctor")
    assert "cannot reach the broker" in doctor.stdout and doctor.returncode != 0
    wait_for(lambda: "cannot reach" in daemon.log_file().read_text(), 10, "the warning")
    assert daemon.status()["state"] == "listening"
    log = daemon.log_file().read_text()
    assert len([line for line in log.splitlines() if "WARNING" in line and "cannot reach" in line]) == 1


def test_the_password_reaches_the_broker_and_nothing_else(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    password = "hunter2-mqtt-secret"
    broker = Broker(tmp_path, users={"voiced": password})
    try:
        home_assistant = HomeAssistant(broker, login=("voiced", password))
        extra = f'username = "voiced"\npassword = "{password}"\n'
        daemon = start(tmp_path, pulse, processes, mqtt_config(broker.port, extra=extra))
        home_assistant.wait(f"homeassistant/device/{NODE}/config")
        assert password not in json.dumps(daemon.status())
        daemon.terminate()
        processes.remove(daemon)
        assert password not in daemon.log_file().read_text() + daemon.stderr
        home_assistant.stop()
    finally:
        broker.stop()

