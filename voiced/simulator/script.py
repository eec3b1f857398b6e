"""Scripted turns: what the simulated user said and what the assistant answers.

A script is a list of turns used in order, one per user turn, from the start of
every session. Each turn may give the transcript to report for the user's speech
and the response: its ``text`` (the assistant transcript) and its ``audio``:
``"echo"`` (the user's own utterance played back), a WAV path (relative to the
script file; resampled to 24 kHz mono), or ``{tone_s = 8.0, freq = 440}`` (a long
answer to interrupt). Once the turns run out, or where a field is left out, the
simulator does what it does without a script: it reports a placeholder transcript
and echoes the user.

TOML (JSON has the same shape)::

    [[turns]]
    transcript = "what time is it"
    response = { text = "It is time to test.", audio = "answers/time.wav" }

    [[turns]]
    response = { text = "A long story...", audio = { tone_s = 8.0 } }

A turn may also make the user's transcript late (``transcript_delay_s``: the
transcription events come that many wall-clock seconds after the commit, typically
after the answer) or fail (``transcript_fails = true``: a ``...transcription.failed``
event instead), and its response may be a function call::

    [[turns]]
    transcript = "what time is it in London"
    transcript_delay_s = 2.5
    response = { function_call = { name = "clock_now", arguments = { tz = "Europe/London" } },
                 text = "It is noon." }

The simulator then answers with a ``function_call`` item (if the session declared
the function in ``session.tools``; else with a text saying the tool is missing),
and the next response, normally after the client sent ``function_call_output`` and
``response.create``, says the turn's ``text`` (by default ``The tool said: <output>``)
with its ``audio`` (by default a tone as long as the text).

A ``[faults]`` table injects failures and sets the session cap: see
:mod:`voiced.simulator.faults`.

Unknown keys are refused, so that a typo is an error rather than a silent default.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from voiced.simulator.audio import load_wav, tone
from voiced.simulator.faults import Faults

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ScriptError(Exception):
    """A script that cannot be used; the message is one line naming file and problem."""


class Tone(BaseModel):
    """A sine tone standing in for a spoken answer of a known length."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tone_s: float = Field(gt=0, le=600)
    freq: float = Field(default=440.0, gt=0, lt=12_000)


class FunctionCall(BaseModel):
    """A call the assistant asks the client to make: a declared function and its arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    arguments: dict[str, Any] | str = Field(default_factory=dict)


class ScriptResponse(BaseModel):
    """The assistant's answer for one turn; a left-out field keeps the default behaviour."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    function_call: FunctionCall | None = None
    audio: Literal["echo"] | Tone | Path | None = None
    _pcm: bytes | None = PrivateAttr(default=None)

    @field_validator("audio", mode="after")
    @classmethod
    def _resolve_path(cls, value: Any, info: ValidationInfo) -> Any:
        base_dir = (info.context or {}).get("base_dir")
        if isinstance(value, Path) and base_dir is not None and not value.is_absolute():
            return Path(base_dir) / value
        return value

    @model_validator(mode="after")
    def _load_audio(self) -> ScriptResponse:
        if isinstance(self.audio, Path):
            self._pcm = load_wav(self.audio)
        elif isinstance(self.audio, Tone):
            self._pcm = tone(self.audio.tone_s, self.audio.freq)
        return self

    @property
    def pcm(self) -> bytes | None:
        """The answer's audio as 24 kHz PCM16, or None for echo / default."""
        return self._pcm


class ScriptTurn(BaseModel):
    """One user turn and the answer to it."""

    model_config = ConfigDict(extra="forbid")

    transcript: str | None = None
    transcript_delay_s: float = Field(default=0.0, ge=0, le=3600)
    transcript_fails: bool = False
    response: ScriptResponse = Field(default_factory=ScriptResponse)


class Script(BaseModel):
    """Turns played in order in every session, and the faults to inject."""

    model_config = ConfigDict(extra="forbid")

    turns: list[ScriptTurn] = Field(default_factory=list)
    faults: Faults = Field(default_factory=Faults)

    @classmethod
    def load(cls, path: str | Path) -> Script:
        """Read a ``.toml`` or ``.json`` script; raise ScriptError with a one-line reason."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScriptError(f"cannot read script {path}: {exc}") from None
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ScriptError(f"script {path} is not valid {path.suffix[1:] or 'TOML'}: {exc}") from None
        return cls.from_data(data, base_dir=path.parent, source=str(path))

    @classmethod
    def from_data(cls, data: Any, *, base_dir: Path | None = None, source: str = "script") -> Script:
        """Validate already-parsed data; WAV paths resolve against `base_dir`."""
        try:
            return cls.model_validate(data, context={"base_dir": base_dir})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ScriptError(f"{source}: {where}: {first['msg']}") from None
        except ValueError as exc:  # a WAV file that cannot be read
            raise ScriptError(f"{source}: {exc}") from None
