from __future__ import annotations

import math

from tests.support.signals import tone
from voiced.audio.levels import level_dbfs, voice_floor_dbfs


def test_level_dbfs() -> None:
    assert level_dbfs(b"") == -math.inf
    assert level_dbfs(bytes(960)) == -math.inf
    assert abs(level_dbfs(tone(0.1, amplitude=1.0)[120:-120]) - -3.0) < 0.1
    assert abs(level_dbfs(tone(0.1, amplitude=0.1)[120:-120].tobytes()) - -23.0) < 0.1


def test_voice_floor_follows_the_vad_threshold() -> None:
    assert voice_floor_dbfs(0.5) == -40.0
    assert voice_floor_dbfs(0.0) < voice_floor_dbfs(0.5) < voice_floor_dbfs(1.0)
