"""The input transcription events of a committed user item: delta and completed, or failed.

Transcription is asynchronous at the service: these events may come long after the
commit, even after the assistant's answer, and a client matches them to the user
turn by ``item_id``. The session decides when (a script's ``transcript_delay_s``);
this module only says what.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from voiced.simulator.usage import text_tokens

#: What a failed transcription reports, shaped like the service's errors.
FAILED_CODE = "transcription_failed"
FAILED_MESSAGE = "The simulator was scripted to fail this transcription."


def completed_events(
    event: Callable[..., dict[str, Any]], item_id: str, transcript: str, audio_ms: int
) -> list[dict[str, Any]]:
    """One delta with the whole transcript, then `completed` with its usage."""
    audio = max(1, audio_ms // 100)
    text = text_tokens(transcript)
    return [
        event(
            "conversation.item.input_audio_transcription.delta",
            item_id=item_id,
            content_index=0,
            delta=transcript,
        ),
        event(
            "conversation.item.input_audio_transcription.completed",
            item_id=item_id,
            content_index=0,
            transcript=transcript,
            usage={
                "type": "tokens",
                "input_tokens": audio,
                "output_tokens": text,
                "total_tokens": audio + text,
                "input_token_details": {"audio_tokens": audio, "text_tokens": 0},
            },
        ),
    ]


def failed_events(event: Callable[..., dict[str, Any]], item_id: str) -> list[dict[str, Any]]:
    """`failed` with an error object, in place of delta and completed."""
    return [
        event(
            "conversation.item.input_audio_transcription.failed",
            item_id=item_id,
            content_index=0,
            error={
                "type": "transcription_error",
                "code": FAILED_CODE,
                "message": FAILED_MESSAGE,
                "param": None,
            },
        )
    ]
