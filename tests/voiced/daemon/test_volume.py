"""The output volume: its gain, the playback applying it, and the file that keeps it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trio

from voiced.audio.playback import Playback
from voiced.daemon.volume import FULL, Volume, gain_for, read_level, write_level


def test_the_gain_grows_with_the_level_from_silence_to_unity() -> None:
    assert gain_for(0) == 0.0
    assert gain_for(FULL) == 1.0
    gains = [gain_for(level) for level in range(0, 101, 10)]
    assert gains == sorted(gains) and len(set(gains)) == len(gains)


def test_the_playback_callback_hands_out_audio_scaled_by_its_gain() -> None:
    playback = Playback(24_000, on_drained=lambda: None, on_item_started=lambda *_: None)
    pcm = (np.full(480, 10_000, dtype=np.int16)).tobytes()
    playback.enqueue("a", pcm)
    loud, _ = playback.callback(None, 240, {}, 0)
    playback.gain = 0.25
    quiet, _ = playback.callback(None, 240, {}, 0)
    assert np.frombuffer(loud, dtype=np.int16).max() == 10_000
    assert np.frombuffer(quiet, dtype=np.int16).max() == 2_500
    assert playback.played_ms("a") == 20.0  # the count of what was handed out is unchanged


def test_a_missing_or_bad_file_means_full_volume(tmp_path: Path) -> None:
    path = tmp_path / "volume.json"
    assert read_level(path) == FULL
    for bad in ("not json", json.dumps({"level": 250}), json.dumps({"level": True}), json.dumps([1])):
        path.write_text(bad)
        assert read_level(path) == FULL
    write_level(path, 35)
    assert read_level(path) == 35


def test_a_level_is_applied_at_once_and_saved_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "data" / "volume.json"
    write_level(path, 60)
    applied: list[float] = []

    async def main() -> None:
        volume = Volume(path, apply=applied.append)
        async with trio.open_nursery() as nursery:
            await nursery.start(volume.run)
            assert volume.level == 60 and applied == [gain_for(60)]
            volume.set(20)
            assert applied[-1] == gain_for(20)
            with pytest.raises(ValueError, match="0-100"):
                volume.set(101)
            while read_level(path) != 20:
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert json.loads(path.read_text()) == {"level": 20}
