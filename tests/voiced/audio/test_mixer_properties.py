"""voiced's streams in the desktop mixer: application "voiced", role "phone", so that the
sound server's role ducking lowers music while it speaks."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import PulseServer
from voiced.audio.portaudio import name_streams


def test_the_properties_are_added_and_the_users_own_win() -> None:
    environ = {"PULSE_PROP": "media.role=music"}
    name_streams(environ)
    assert environ["PULSE_PROP_OVERRIDE"] == "application.name=voiced"
    assert environ["PULSE_PROP"].split() == [
        "media.role=music", "application.id=voiced", "application.icon_name=audio-input-microphone"]
    before = dict(environ)
    name_streams(environ)
    assert environ == before, "naming the streams again changes nothing"


def streams_of(pulse: PulseServer, kind: str) -> list[dict[str, str]]:
    """The properties of each stream `pactl list` shows of `kind` (sink-inputs, source-outputs)."""
    streams: list[dict[str, str]] = []
    for line in pulse.pactl("list", kind).splitlines():
        if not line.startswith(("\t", " ")):
            streams.append({})
        elif " = " in line and streams:
            key, value = line.strip().split(" = ", 1)
            streams[-1][key] = value.strip('"')
    return streams


def test_the_sound_server_sees_voiced_as_a_phone_call(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    simulator = SimulatorProcess(tmp_path)
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator))
    processes += [simulator, daemon]
    daemon.rpc("say", {"text": "Say something, please."})
    wait_for(lambda: simulator.sent("response.done"), 15, "an answer")

    def ours(kind: str) -> list[dict[str, str]]:
        return [s for s in streams_of(pulse, kind) if s.get("application.name") == "voiced"]

    wait_for(lambda: ours("sink-inputs"), 10, "voiced's playback stream")
    for kind in ("sink-inputs", "source-outputs"):
        [stream] = ours(kind)
        assert stream["media.role"] == "phone", (kind, stream)
        assert stream["application.id"] == "voiced", (kind, stream)
