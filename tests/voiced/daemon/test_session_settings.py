"""The configuration becomes the `session.update` payload the protocol builds."""

from __future__ import annotations

import pytest

from tests.support.schema import client_events
from voiced.config import Settings
from voiced.daemon.session_settings import session_from_settings
from voiced.realtime.protocol import ClientEvents


@pytest.mark.parametrize("turn_detection", ["server_vad", "semantic_vad", "manual"])
@pytest.mark.parametrize("noise_reduction", ["near_field", "far_field", "off"])
def test_every_audio_setting_gives_a_ga_session(turn_detection: str, noise_reduction: str) -> None:
    settings = Settings(audio={"turn_detection": turn_detection, "noise_reduction": noise_reduction},
                        assistant={"instructions": "be brief", "prompt_id": "pmpt_1", "voice": "cedar"},
                        transcription={"language": "en"})
    event = ClientEvents().session_update(session_from_settings(settings, settings.profile()))
    client_events().validate_python(event)
    audio_input = event["session"]["audio"]["input"]
    assert (audio_input["turn_detection"] is None) == (turn_detection == "manual")
    if turn_detection != "manual":
        assert audio_input["turn_detection"]["type"] == turn_detection
    assert (audio_input["noise_reduction"] is None) == (noise_reduction == "off")
    assert audio_input["transcription"]["language"] == "en"
    assert event["session"]["instructions"] == "be brief"
    assert event["session"]["audio"]["output"]["voice"] == "cedar"


def test_push_to_talk_means_the_client_commits_turns() -> None:
    settings = Settings(listen={"mode": "push_to_talk"})
    session = session_from_settings(settings, settings.profile())
    assert session["audio"]["input"]["turn_detection"] is None


def test_transcription_can_be_switched_off() -> None:
    settings = Settings(transcription={"enabled": False})
    assert "transcription" not in session_from_settings(settings, settings.profile())["audio"]["input"]


def test_a_named_profile_wins_over_the_assistant_table() -> None:
    settings = Settings(assistant={"voice": "marin", "default": "pirate"},
                        assistants={"pirate": {"voice": "cedar", "instructions": "arr"}})
    session = session_from_settings(settings, settings.profile())
    assert session["audio"]["output"]["voice"] == "cedar" and session["instructions"] == "arr"
