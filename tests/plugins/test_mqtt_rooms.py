"""Several rooms: two voiced on one broker hear one utterance, and exactly one answers."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from plugins.mqtt.presence import node_entry
from plugins.mqtt.rooms import DEFEND_S, WINDOW_S, RoomClaim, Rooms, parse_claim, winner
from tests.support.mosquitto import Broker, HomeAssistant
from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import MIC_SINK, PulseServer
from tests.support.signals import silence, speak
from voiced.pcm import WIRE_RATE as RATE

SECOND_MIC = "voiced_mic2"
HALL = "voiced/hall/availability"
ALONE = "the only voiced on the broker"
FAKE_NODE = """
import sys, time
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
client = paho.Client(CallbackAPIVersion.VERSION2, client_id="voiced-hall")
client.will_set(sys.argv[2], "offline", qos=1, retain=True)
client.connect("127.0.0.1", int(sys.argv[1]))
client.loop_start()
client.publish("voiced/nodes/hall", sys.argv[3], qos=1, retain=True).wait_for_publish(10)
client.publish(sys.argv[2], "online", qos=1, retain=True).wait_for_publish(10)
print("online", flush=True)
time.sleep(600)
"""
"""Another voiced, as far as the broker can tell: its entry, "online", and a last will."""


def test_the_loudest_wins_and_a_tie_goes_to_the_lower_node_id() -> None:
    assert winner([RoomClaim("b", -20.0), RoomClaim("a", -30.0)]) == "b"
    assert winner([RoomClaim("b", -20.0), RoomClaim("a", -20.0)]) == "a"


def test_only_claims_within_the_window_count() -> None:
    now = [100.0]
    rooms = Rooms("kitchen", clock=lambda: now[0])
    rooms.heard(RoomClaim("hall", -10.0))  # an earlier utterance
    now[0] += WINDOW_S + 0.5
    ours, made_at = rooms.ours(-25.0)
    assert rooms.won(ours, made_at)
    now[0] += 0.3
    rooms.heard(RoomClaim("bedroom", -24.0))
    rooms.heard(RoomClaim("kitchen", 0.0))  # our own, echoed by the broker
    assert not rooms.won(ours, made_at)


@pytest.mark.parametrize("payload", [b"", b"\xff", b"[]", b'{"node_id": "A B", "loudness_dbfs": 1}',
                                     b'{"node_id": "a", "loudness_dbfs": "loud"}',
                                     b'{"node_id": "a", "loudness_dbfs": NaN}', b'{"node_id": "a"}'])
def test_garbage_claims_are_ignored(payload: bytes) -> None:
    assert parse_claim(payload) is None


def test_the_winner_defends_its_utterance_against_a_room_that_wakes_later() -> None:
    now = [0.0]
    kitchen, hall = Rooms("kitchen", clock=lambda: now[0]), Rooms("hall", clock=lambda: now[0])
    ours, made_at = kitchen.ours(-20.0)
    assert kitchen.won(ours, made_at)
    now[0] += 1.5  # the hall, further away, wakes later, and on the louder end of the sentence
    late, late_at = hall.ours(-15.0)
    defence = kitchen.heard(late)
    assert defence == RoomClaim("kitchen", -20.0, answering=True)
    assert hall.heard(defence) is None
    assert not hall.won(late, late_at)
    assert kitchen.heard(RoomClaim("bedroom", -10.0, answering=True)) is None, "no defence of a defence"
    now[0] += DEFEND_S + 0.1
    assert kitchen.heard(RoomClaim("hall", -30.0)) is None, "a new utterance, later, is the hall's"


def test_a_claim_round_trips() -> None:
    for claim in (RoomClaim("kitchen", -23.5), RoomClaim("hall", -3.0, answering=True)):
        assert parse_claim(claim.payload().encode()) == claim


def room_config(broker: Broker, node: str) -> str:
    """A voiced in wake mode on `broker`: nothing says that other rooms may share it."""
    return (f'[listen]\nmode = "wake"\ncues = false\n[mqtt]\nhost = "127.0.0.1"\n'
            f'port = {broker.port}\nnode_id = "{node}"\n')


def start_alone(tmp_path: Path, sound: dict[str, str], broker: Broker,
                processes: list) -> tuple[SimulatorProcess, DaemonProcess]:
    """The kitchen's voiced, in standby, knowing no other room online."""
    simulator = SimulatorProcess(tmp_path)
    daemon = DaemonProcess(tmp_path, daemon_env(sound, simulator), config=room_config(broker, "kitchen"),
                           wait_ready=False)
    processes += [simulator, daemon]
    daemon.wait_state("standby", timeout=20)
    wait_for(lambda: ALONE in mqtt_status(daemon), 20, "the kitchen to be alone")
    return simulator, daemon


def mqtt_status(daemon: DaemonProcess) -> str:
    plugins = {p["name"]: p for p in daemon.rpc("plugins")["result"]["plugins"]}
    line = plugins["mqtt"]["status_line"]
    return str(line["text"]) if line else ""


@pytest.fixture
def second_mic(pulse: PulseServer) -> Iterator[str]:
    pulse.load_sink(SECOND_MIC)
    yield f"{SECOND_MIC}.monitor"
    pulse.unload_sink(SECOND_MIC)


def test_two_rooms_hear_one_utterance_and_only_the_louder_answers(
        tmp_path: Path, pulse: PulseServer, processes: list, second_mic: str) -> None:
    broker = Broker(tmp_path)
    watcher = HomeAssistant(broker)
    try:
        daemons, simulators = {}, {}
        for node, source in (("hall", second_mic), ("kitchen", f"{MIC_SINK}.monitor")):
            folder = tmp_path / node
            folder.mkdir()
            simulators[node] = SimulatorProcess(folder)
            env = {**daemon_env(pulse.env, simulators[node]), "PULSE_SOURCE": source}
            daemons[node] = DaemonProcess(folder, env, config=room_config(broker, node), wait_ready=False)
            processes += [simulators[node], daemons[node]]
        for node, daemon in daemons.items():
            daemon.wait_state("standby", timeout=20)
            watcher.wait(f"voiced/{node}/availability")

        speech = np.concatenate([speak("Computer, what is the weather like today?", rate=RATE), silence(1.0)])
        quiet = (speech * 0.25).astype(np.int16)  # about 12 dB lower: the hall is further away
        loud_play = pulse.play(MIC_SINK, speech)  # "kitchen" hears it loud ...
        quiet_play = pulse.play(SECOND_MIC, quiet)  # ... "hall" hears it too, more quietly
        loud_play.wait(20)
        quiet_play.wait(20)

        wait_for(lambda: simulators["kitchen"].sent("response.done"), 30, "the kitchen to answer")
        claims = [parse_claim(p) for p in watcher.on("voiced/claims")]
        assert {c.node_id for c in claims if c} == {"kitchen", "hall"}, "both rooms woke and claimed"
        assert daemons["hall"].status()["state"] == "standby"
        assert simulators["hall"].events("in") == [], "the quieter room sent something"
        appended, _ = simulators["kitchen"].appended_audio()
        assert len(appended) >= len(speech) * 0.5, "the kitchen lost the words that woke it"
        watcher.stop()
    finally:
        broker.stop()


def test_a_voiced_alone_on_the_broker_wakes_at_once_without_a_claim(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    broker = Broker(tmp_path)
    watcher = HomeAssistant(broker)
    try:
        watcher.publish("voiced/nodes/hall", node_entry(HALL), retain=True)  # a room switched off
        watcher.publish(HALL, "offline", retain=True)
        simulator, daemon = start_alone(tmp_path, pulse.env, broker, processes)
        assert watcher.wait("voiced/nodes/kitchen") == [node_entry("voiced/kitchen/availability").encode()]

        speech = np.concatenate([speak("Computer, what is the weather like today?", rate=RATE), silence(1.0)])
        pulse.play(MIC_SINK, speech).wait(20)
        wait_for(lambda: simulator.sent("response.done"), 30, "the kitchen to answer")
        assert watcher.on("voiced/claims") == [], "a voiced alone claimed its wake"
        assert "claim" not in daemon.log_file().read_text(), "the wake waited for a verdict"
        appended, _ = simulator.appended_audio()
        assert len(appended) >= len(speech) * 0.5, "the kitchen lost the words that woke it"
        watcher.stop()
    finally:
        broker.stop()


def test_a_room_that_dies_ends_the_arbitration_through_its_last_will(
        tmp_path: Path, virtual_sound: dict[str, str], processes: list) -> None:
    broker = Broker(tmp_path)
    hall: subprocess.Popen[str] | None = None
    try:
        _, daemon = start_alone(tmp_path, virtual_sound, broker, processes)

        hall = subprocess.Popen([sys.executable, "-c", FAKE_NODE, str(broker.port), HALL, node_entry(HALL)],
                                stdout=subprocess.PIPE, text=True)
        assert hall.stdout is not None and hall.stdout.readline() == "online\n"
        wait_for(lambda: "other rooms online: hall" in mqtt_status(daemon), 20, "the hall to be seen")
        log = daemon.log_file()
        wait_for(lambda: "other rooms online (hall): the loudest" in log.read_text(), 20, "arbitration")

        hall.send_signal(signal.SIGKILL)  # no goodbye: only the broker's last will says it is gone
        hall.wait(10)
        wait_for(lambda: ALONE in mqtt_status(daemon), 60, "the hall's last will")
        wait_for(lambda: "no other room online: this one answers at once" in log.read_text(), 20,
                 "the arbitration to end")
    finally:
        if hall is not None and hall.poll() is None:
            hall.kill()
            hall.wait(10)
        broker.stop()
