"""Say "goodbye" and the assistant stops listening, once its farewell has played.

    [plugins.goodbye]
    phrases = ["goodbye", "good bye", "bye bye"]   # whole words, any case or punctuation
    action = "standby"                              # or "pause", or "exit" (stop the daemon)
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from voiced import hookimpl
from voiced.plugin_host import VoiceCommandContext


class Config(BaseModel):
    phrases: list[str] = ["goodbye", "good bye", "bye bye"]
    action: Literal["standby", "pause", "exit"] = "standby"


config = Config()


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def matches(text: str, phrases: list[str]) -> bool:
    """Whether one of `phrases` occurs in `text` as whole words."""
    spoken = f" {_words(text)} "
    return any(f" {phrase} " in spoken for phrase in map(_words, phrases) if phrase)


@hookimpl
def voiced_voice_command(text: str, ctx: VoiceCommandContext) -> bool:
    if not matches(text, config.phrases):
        return False
    daemon = ctx.daemon
    act = {"standby": daemon.standby, "pause": daemon.pause, "exit": daemon.stop}[config.action]
    daemon.when_quiet(act)
    return True
