"""What a reload applies: each row of the README's table, against a daemon assembled in
this process (the simulator on loopback, the real control socket, the real plugins;
only the sound devices are stand-ins, so no sound server is needed)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from voiced.config import load_settings
from voiced.daemon import Daemon, Options
from voiced.daemon.reloading import RELOAD_TABLE, RESTART
from voiced.simulator import Simulator

README = Path(__file__).parents[3] / "README.md"
WAIT_S = 10


class FakeCapture:
    def __init__(self) -> None:
        self.send, self.frames = trio.open_memory_channel[Any](10)


class FakeAudio:
    """Sound devices that hear nothing and play nowhere; records what it was told."""

    def __init__(self) -> None:
        self.capture = FakeCapture()
        self.playback = None
        self.vad_thresholds: list[float] = []
        self.opened = 0

    async def open(self, on_drained: Callable[[], None], on_item_started: Callable[..., None]) -> None:
        self.opened += 1

    async def supervise(self, on_problem: Callable[[str, str], None]) -> None:
        await trio.sleep_forever()

    async def close(self) -> None:
        pass

    def set_vad_threshold(self, threshold: float) -> None:
        self.vad_thresholds.append(threshold)

    def deliver_promptly(self, prompt: bool) -> None:
        pass

    def standby(self, standby: bool) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {}


@dataclass
class Running:
    daemon: Daemon
    simulator: Simulator
    audio: FakeAudio
    config: Path
    base: str

    def write(self, toml: str) -> None:
        self.config.write_text(f'[api]\nbase_url = "{self.simulator.url}"\n{toml}')

    async def reload(self, toml: str) -> None:
        self.write(toml)
        await self.daemon.reload()

    async def wait(self, condition: Callable[[], Any], what: str) -> Any:
        with trio.move_on_after(WAIT_S):
            while not (result := condition()):
                await trio.sleep(0.02)
            return result
        raise AssertionError(f"timed out waiting for {what}")

    async def reach(self, state: str, what: str) -> None:
        await self.wait(lambda: self.daemon.state == state, what)

    def received(self, kind: str) -> list[dict[str, Any]]:
        return self.simulator.received(kind)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable, folder in [("XDG_RUNTIME_DIR", "run"), ("XDG_DATA_HOME", "data"),
                             ("XDG_STATE_HOME", "state"), ("XDG_CONFIG_HOME", "config")]:
        (tmp_path / folder).mkdir(mode=0o700)
        monkeypatch.setenv(variable, str(tmp_path / folder))
    monkeypatch.setenv("VOICED_CONFIG", str(tmp_path / "config" / "config.toml"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@asynccontextmanager
async def running(home: Path, toml: str = "", simulator: Simulator | None = None) -> AsyncIterator[Running]:
    simulator = simulator or Simulator(speed=50.0)
    config = home / "config" / "config.toml"
    async with trio.open_nursery() as nursery:
        base = await nursery.start(simulator.serve)
        config.write_text(f'[api]\nbase_url = "{base}"\n{toml}')
        audio = FakeAudio()
        daemon = Daemon(load_settings(config), Options(config_path=config), nursery, audio=audio)
        await daemon.start()
        yield Running(daemon, simulator, audio, config, base)
        nursery.cancel_scope.cancel()


def run(test: Callable[[], Any]) -> None:
    trio.run(test)


def session_updates(r: Running) -> list[dict[str, Any]]:
    return [event["session"] for event in r.received("session.update")]


def test_the_readme_table_is_the_one_the_daemon_follows() -> None:
    text = README.read_text()
    section = text[text.index("### What a reload applies"):]
    section = section[:section.index("\n## ")]
    rows = re.findall(r"^\| (`.+?`) \| (.+?) \|$", section, re.M)
    documented = [(tuple(re.findall(r"`([^`]+)`", keys)), how) for keys, how in rows]
    assert documented == [(keys, how) for keys, how in RELOAD_TABLE]


def test_a_new_key_recovers_from_a_refused_one(home: Path) -> None:
    async def test() -> None:
        async with running(home, 'key = "sk-old"\n', Simulator(api_key="sk-new", speed=50.0)) as r:
            await r.reach("error", "the refused key")
            await r.reload('key = "sk-new"\n')
            await r.reach("listening", "a session with the new key")

    run(test)


def test_a_new_model_reconnects_and_replays_the_conversation(home: Path) -> None:
    async def test() -> None:
        async with running(home, '[assistant]\noutput_modalities = ["text"]\n') as r:
            await r.reach("listening", "the first session")
            r.daemon.say("My name is Ada.")
            await r.wait(lambda: r.simulator.received("response.create") or r.daemon.state == "thinking",
                         "the question")
            await r.wait(lambda: r.daemon.current.turns.finished, "the answer")
            await r.reload('model = "gpt-realtime-mini"\n[assistant]\noutput_modalities = ["text"]\n')
            await r.wait(lambda: len(r.simulator.sessions) == 2, "a second session")
            second = r.simulator.sessions[1]
            await r.wait(lambda: r.simulator.items_created(second), "the replay")
            assert session_updates(r)[-1]["model"] == "gpt-realtime-mini"
            assert r.daemon.url.endswith("model=gpt-realtime-mini")

    run(test)


def test_a_shorter_rollover_age_rolls_the_open_session_over(home: Path) -> None:
    async def test() -> None:
        async with running(home) as r:
            await r.reach("listening", "the first session")
            await r.reload("rollover_after_s = 1\n")
            await r.wait(lambda: len(r.simulator.sessions) == 2, "the rollover")

    run(test)


def test_the_assistant_and_the_turn_taking_go_to_the_open_session(home: Path) -> None:
    async def test() -> None:
        async with running(home) as r:
            await r.reach("listening", "the first session")
            await r.reload('[assistant]\ninstructions = "Answer in French."\n'
                           '[audio]\nturn_detection = "semantic_vad"\nnoise_reduction = "near_field"\n'
                           '[transcription]\nlanguage = "fr"\n')
            await r.wait(lambda: len(session_updates(r)) == 2, "a session.update")
            update = session_updates(r)[-1]
            assert update["instructions"] == "Answer in French."
            assert update["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
            assert update["audio"]["input"]["noise_reduction"] == {"type": "near_field"}
            assert update["audio"]["input"]["transcription"]["language"] == "fr"
            assert len(r.simulator.sessions) == 1, "the session was replaced, not updated"

    run(test)


def test_the_vad_threshold_reaches_the_server_the_ear_and_the_microphone(home: Path) -> None:
    async def test() -> None:
        async with running(home) as r:
            await r.reach("listening", "the first session")
            floor = r.daemon.listening.ear.floor_dbfs
            await r.reload("[audio]\nvad_threshold = 0.9\n")
            await r.wait(lambda: len(session_updates(r)) == 2, "a session.update")
            assert session_updates(r)[-1]["audio"]["input"]["turn_detection"]["threshold"] == 0.9
            assert r.audio.vad_thresholds == [0.9]
            assert r.daemon.listening.ear.floor_dbfs > floor

    run(test)


def test_listen_mode_idle_timeout_and_cues_apply_at_once(home: Path) -> None:
    async def test() -> None:
        async with running(home) as r:
            await r.reach("listening", "the first session")
            await r.reload('[listen]\nmode = "wake"\nidle_timeout_s = 1\ncues = false\n')
            assert r.daemon.listening.settings.cues is False
            await r.reach("standby", "the idle timeout of wake mode")
            await r.reload('[listen]\nmode = "always"\n')
            await r.reach("listening", "awake again in always mode")

    run(test)


def test_a_budget_lowered_below_todays_cost_sends_voiced_to_standby(home: Path) -> None:
    async def test() -> None:
        async with running(home, '[assistant]\noutput_modalities = ["text"]\n') as r:
            await r.reach("listening", "the first session")
            r.daemon.say("Hello there.")
            await r.wait(lambda: (r.daemon.usage.today_usd or 0) > 0, "an answer that cost something")
            await r.reload('[assistant]\noutput_modalities = ["text"]\n[budget]\ndaily_usd = 0.000001\n')
            await r.reach("standby", "standby for the budget")
            assert r.daemon.listening.over_budget

    run(test)


def test_prices_apply_to_the_estimate_at_once(home: Path) -> None:
    async def test() -> None:
        async with running(home) as r:
            await r.reload('[prices.gpt-realtime]\naudio_input = 1000.0\n')
            assert r.daemon.usage.prices.audio_input == 1000.0

    run(test)


def test_plugins_and_recording_are_loaded_again(home: Path) -> None:
    async def test() -> None:
        async with running(home) as r:
            await r.reach("listening", "the first session")
            await r.wait(lambda: session_updates(r), "its session.update")  # it can follow the state
            tools = [t["name"] for t in session_updates(r)[0].get("tools", [])]
            assert tools, "the bundled clock tool is offered by default"
            await r.reload('[plugins]\ndisabled = ["clock"]\n[recording]\nenabled = true\n')
            await r.wait(lambda: len(session_updates(r)) == 2, "a session.update")
            assert session_updates(r)[-1].get("tools", []) == []
            assert r.daemon.plugins.host.records["clock"].status == "disabled"
            assert r.daemon.plugins.host.settings.recording.enabled

    run(test)


def test_the_log_level_applies_at_once(home: Path) -> None:
    async def test() -> None:
        root = logging.getLogger()
        before = root.level
        try:
            async with running(home) as r:
                await r.reload('[logging]\nlevel = "debug"\n')
                assert root.level == logging.DEBUG
                await r.reload('[logging]\nlevel = "warning"\n')
                assert root.level == logging.WARNING
        finally:
            root.setLevel(before)

    run(test)


@pytest.mark.parametrize(("toml", "key"), [
    ('[audio]\nchunk_ms = 20\n', "audio.chunk_ms"),
    ('[audio]\necho = "gate"\n', "audio.echo"),
    ('[audio]\ninput_device = "USB"\n', "audio.input_device"),
    ('[control]\nsocket = "/tmp/elsewhere.sock"\n', "control.socket"),
    ('[logging]\nfile_path = "/tmp/voiced-elsewhere.log"\n', "logging.file_path"),
])
def test_keys_that_need_a_restart_say_so_and_change_nothing(
        home: Path, caplog: pytest.LogCaptureFixture, toml: str, key: str) -> None:
    assert any(key in keys and how == RESTART for keys, how in RELOAD_TABLE)

    async def test() -> None:
        async with running(home) as r:
            socket = r.daemon.settings.socket_path
            await r.reload(toml)
            assert f"{key} changed: it applies when voiced restarts" in caplog.text
            assert r.audio.opened == 1, "the devices were opened again"
            assert socket.exists(), "the control socket moved"

    with caplog.at_level(logging.INFO, logger="voiced"):
        run(test)
