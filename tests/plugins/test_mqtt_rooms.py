"""Several rooms: two voiced on one broker hear one utterance, and exactly one answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from plugins.mqtt.rooms import DEFEND_S, WINDOW_S, RoomClaim, Rooms, parse_claim, winner
from tests.support.mosquitto import Broker, HomeAssistant
from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import MIC_SINK, PulseServer
from tests.support.signals import silence, speak
from voiced.pcm import WIRE_RATE as RATE

SECOND_MIC = "voiced_mic2"


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
            config = (f'[listen]\nmode = "wake"\ncues = false\n[mqtt]\nhost = "127.0.0.1"\n'
                      f'port = {broker.port}\nnode_id = "{node}"\nrooms = true\n')
            daemons[node] = DaemonProcess(folder, env, config=config, wait_ready=False)
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
