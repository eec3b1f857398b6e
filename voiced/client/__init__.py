"""voiced as a library: a Realtime voice session for programs on asyncio or trio.

::

    async with voiced.client.connect(instructions="Answer briefly.") as session:
        await session.say("What is the capital of France?")
        async for event in session:
            if event["type"] == "response.output_audio_transcript.done":
                print(event["transcript"])
            elif event["type"] == "response.done":
                break

It runs on anyio, so the same code serves asyncio and trio, and it drives the
conversation core the daemon uses: the same session configuration, interruptions,
rollover at the 60-minute cap and fatal errors.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio

from voiced.realtime.endings import SessionEnded

from .options import resolve
from .session import InvalidEvent, Session

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

__all__ = ["InvalidEvent", "Session", "SessionEnded", "connect"]


@asynccontextmanager
async def connect(*, api_key: str | None = None, base_url: str | None = None, model: str | None = None,
                  instructions: str | None = None, prompt_id: str | None = None,
                  assistant_id: str | None = None, transcription: bool = True, voice: str | None = None,
                  output_modalities: Sequence[str] | None = None) -> AsyncIterator[Session]:
    """Open a Realtime session; yields a `Session` once the server has created and the
    session been configured, and closes it on exit.

    `api_key` defaults to ``OPENAI_API_KEY``; `base_url`, `model` and `voice` to the
    configuration's defaults (``https://api.openai.com/v1``, ``gpt-realtime``,
    ``marin``). `assistant_id` is an alias of `prompt_id` (a stored prompt);
    `transcription` asks for transcripts of the user's audio. Raises ValueError for
    bad arguments and `SessionEnded` when no session could be opened.
    """
    options = resolve(api_key=api_key, base_url=base_url, model=model, instructions=instructions,
                      prompt_id=prompt_id, assistant_id=assistant_id, transcription=transcription,
                      voice=voice, output_modalities=output_modalities)
    session = Session(options)
    try:
        async with anyio.create_task_group() as tasks:
            await tasks.start(session._run)
            if session.ended is not None:
                raise session.ended
            try:
                yield session
            finally:
                await session.close()
    except BaseExceptionGroup as group:
        # The task group wraps what the caller's block raised; hand it back as raised.
        if len(group.exceptions) == 1 and isinstance(group.exceptions[0], Exception):
            raise group.exceptions[0] from None
        raise
