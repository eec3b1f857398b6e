"""What `connect` was asked for, completed from the environment and the configuration's defaults."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from voiced.config import ApiConfig, AssistantProfile, TranscriptionConfig, describe_validation_error
from voiced.realtime.protocol import realtime_url, session_config


@dataclass(frozen=True)
class Options:
    """Where to connect, with which key, and the first `session.update`'s session."""

    url: str
    key: str = field(repr=False)  # a secret: never in a repr, a log line or a traceback's text
    timeout: float
    session: dict[str, Any]


def resolve(*, api_key: str | None, base_url: str | None, model: str | None, instructions: str | None,
            prompt_id: str | None, assistant_id: str | None, transcription: bool, voice: str | None,
            output_modalities: Sequence[str] | None) -> Options:
    """Fill what was not given; ValueError, in one line, for what cannot work."""
    if prompt_id and assistant_id and prompt_id != assistant_id:
        raise ValueError("give prompt_id or assistant_id (its alias), not two different ids")
    key = api_key or os.environ.get("OPENAI_API_KEY")
    if not key:
        raise ValueError("no API key: pass api_key= or set OPENAI_API_KEY")
    given: dict[str, Any] = {"base_url": base_url, "model": model}
    profile: dict[str, Any] = {"voice": voice, "output_modalities": output_modalities,
                               "instructions": instructions, "prompt_id": prompt_id or assistant_id}
    try:
        api = ApiConfig.model_validate({k: v for k, v in given.items() if v is not None})
        assistant = AssistantProfile.model_validate({k: v for k, v in profile.items() if v is not None})
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc).removeprefix("invalid configuration: ")) from None
    session = session_config(
        model=api.model, voice=assistant.voice, output_modalities=assistant.output_modalities,
        instructions=assistant.instructions, prompt_id=assistant.prompt_id,
        transcription_model=TranscriptionConfig().model if transcription else None)
    return Options(url=realtime_url(api.base_url, api.model), key=key, timeout=api.timeout,
                   session=session)
