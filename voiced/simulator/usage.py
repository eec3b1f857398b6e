"""Token accounting at the service's published rates, deterministic so tests can check it.

- user audio: 1 token per 100 ms (started 100 ms count);
- assistant audio: 1 token per 50 ms, also when it is input to a later response;
- text: 1 token per 4 characters (rounded up), for instructions, typed messages,
  function calls and their output, transcripts the assistant produced.

Every response's input is the whole conversation before it plus the instructions,
as with the real service; a transcript of user audio is not input (the model hears
the audio). Nothing is reported as cached.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from voiced.simulator.conversation import Item

USER_AUDIO_MS_PER_TOKEN = 100
ASSISTANT_AUDIO_MS_PER_TOKEN = 50
CHARS_PER_TEXT_TOKEN = 4


def text_tokens(text: str) -> int:
    """Tokens for `text`: one per 4 characters, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TEXT_TOKEN)


def audio_tokens(ms: int, *, assistant: bool) -> int:
    """Tokens for `ms` of audio spoken by the user or the assistant."""
    rate = ASSISTANT_AUDIO_MS_PER_TOKEN if assistant else USER_AUDIO_MS_PER_TOKEN
    return math.ceil(ms / rate)


@dataclass(frozen=True)
class Tokens:
    """A text/audio token pair."""

    text: int = 0
    audio: int = 0

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(self.text + other.text, self.audio + other.audio)

    @property
    def total(self) -> int:
        return self.text + self.audio


def item_tokens(item: Item) -> Tokens:
    """What one conversation item costs as input to a response."""
    if item.has_audio:
        return Tokens(audio=audio_tokens(item.heard_ms, assistant=item.role == "assistant"))
    return Tokens(text=text_tokens(item.text))


def input_tokens(items: Iterable[Item], instructions: str) -> Tokens:
    """The input of a response: instructions plus every item before it."""
    total = Tokens(text=text_tokens(instructions))
    for item in items:
        total += item_tokens(item)
    return total


def usage_wire(inp: Tokens, out: Tokens) -> dict[str, Any]:
    """The ``usage`` object of ``response.done``."""
    return {
        "input_tokens": inp.total,
        "output_tokens": out.total,
        "total_tokens": inp.total + out.total,
        "input_token_details": {
            "text_tokens": inp.text,
            "audio_tokens": inp.audio,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            "image_tokens": 0,
        },
        "output_token_details": {"text_tokens": out.text, "audio_tokens": out.audio},
    }
