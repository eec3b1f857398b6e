"""The `session.update` payload from the configuration: voiced.realtime.protocol takes plain values."""

from __future__ import annotations

from typing import Any, Literal

from voiced.config import AssistantProfile, Settings
from voiced.realtime.protocol import session_config


def session_from_settings(settings: Settings, profile: AssistantProfile) -> dict[str, Any]:
    audio = settings.audio
    turn_detection: Literal["server_vad", "semantic_vad"] | None = None
    if audio.turn_detection != "manual" and settings.listen.mode != "push_to_talk":
        turn_detection = audio.turn_detection
    return session_config(
        model=settings.api.model,
        voice=profile.voice,
        output_modalities=profile.output_modalities,
        instructions=profile.instructions,
        prompt_id=profile.prompt_id,
        turn_detection=turn_detection,
        vad_threshold=audio.vad_threshold,
        noise_reduction=None if audio.noise_reduction == "off" else audio.noise_reduction,
        transcription_model=settings.transcription.model if settings.transcription.enabled else None,
        transcription_language=settings.transcription.language,
    )
