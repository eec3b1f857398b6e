"""Faults the simulator can inject, so that a client's recovery can be tested.

A fault is an *action* and a *trigger*. Actions:

- ``drop``: end the TCP connection with no WebSocket close frame (the client sees 1006);
- ``close``: a close frame with ``code`` (default 1011) and ``reason``;
- ``error``: an ``error`` event with ``code`` (default ``server_error``) and ``message``;
  a fatal code (``invalid_api_key``, ``insufficient_quota``, ``account_deactivated``,
  ``billing_hard_limit_reached``) is followed by a close with 1008;
- ``malformed``: one bad frame: ``frame = "text"`` (not JSON), ``"no_type"`` (a JSON
  object without ``type``) or ``"binary"`` (a binary frame);
- ``stall``: send nothing for ``seconds`` (default 5), not even pongs; what the
  session produces meanwhile is sent afterwards, as after a network stall;
- ``bad_delta``: the next ``response.output_audio.delta`` goes out bad: ``delta =
  "odd"`` (default) splits it into two deltas of an odd number of bytes (the audio
  stays whole), ``"base64"`` sends a delta that is not base64 before it;
- ``tool_call``: the model calls a declared function (``name``, default the first the
  session declares) with hostile ``arguments``: ``"deep"`` (default; an array nested
  ``depth`` deep, default 5000), ``"huge"`` (a string of ``size`` characters, default
  1,000,000) or ``"invalid"`` (not JSON). The call is a response of its own, started
  at once, or when the active response ends; the next response answers with the
  tool's output, as after a scripted call.

Triggers (exactly one), counted per session:

- ``at_s = T``: T seconds after the connection was accepted;
- ``after_append = N``: after the Nth ``input_audio_buffer.append`` received;
- ``during_response = N``: during the Nth response, after ``after_deltas = K`` deltas
  of its output (audio, text or function arguments; transcript deltas do not count;
  default 1; 0 is right after ``response.created``); a response that ends before
  its Kth delta does not trigger it;
- ``after_response = N``: right after the Nth ``response.done``.

A fault fires once over the simulator's life unless ``every_session = true``, or
``every_nth_session = N`` (in sessions K, K+N, K+2N...). ``first_session = K``
(default 1) keeps it quiet before the Kth session; sessions are counted from 1 over
the simulator's life (refused handshakes do not count). Several faults with the same
N and different Ks take turns, one kind of failure a session.

In a script::

    [faults]
    max_session_s = 30          # close with 1001 "maximum duration" (default 3600)
    refuse_connections = 2      # answer the next 2 handshakes with HTTP 503
    inject = [
      { action = "drop", during_response = 1, after_deltas = 3 },
      { action = "close", code = 1012, after_response = 2, every_session = true },
      { action = "error", code = "insufficient_quota", at_s = 1.5 },
      { action = "stall", seconds = 4, after_append = 50 },
      { action = "malformed", frame = "binary", at_s = 0 },
      { action = "bad_delta", delta = "base64", during_response = 1, after_deltas = 2 },
      { action = "tool_call", after_response = 1, every_nth_session = 2, first_session = 2 },
    ]

On the command line, one ``--fault`` per fault, the same keys as ``key=value`` pairs
separated by commas: ``--fault action=close,code=1012,after_response=2``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FATAL_ERROR_CODES = frozenset(
    {"invalid_api_key", "insufficient_quota", "account_deactivated", "billing_hard_limit_reached"}
)
#: How the simulator closes after a fatal error event.
CLOSE_AFTER_FATAL = 1008
DEFAULT_CLOSE_CODE = 1011
DEFAULT_ERROR_CODE = "server_error"
_TRIGGERS = ("at_s", "after_append", "during_response", "after_response")
#: The deltas ``after_deltas`` counts: a response's output, not its transcript.
OUTPUT_DELTAS = frozenset(
    {"response.output_audio.delta", "response.output_text.delta", "response.function_call_arguments.delta"}
)
#: The keys that belong to one action (or a few): given with another, they are an error.
_ACTION_KEYS: dict[str, frozenset[str]] = {
    "code": frozenset({"close", "error"}),
    "reason": frozenset({"close"}),
    "message": frozenset({"error"}),
    "frame": frozenset({"malformed"}),
    "seconds": frozenset({"stall"}),
    "delta": frozenset({"bad_delta"}),
    "name": frozenset({"tool_call"}),
    "arguments": frozenset({"tool_call"}),
    "depth": frozenset({"tool_call"}),
    "size": frozenset({"tool_call"}),
}
#: Hostile arguments stay well inside the 16 MiB a WebSocket message may carry.
MAX_ARGUMENTS_SIZE = 4_000_000
#: The frames a ``malformed`` fault sends.
MALFORMED_TEXT = "this is not JSON {"
MALFORMED_BINARY = b"\x00\x01 a binary frame \xff"


class Fault(BaseModel):
    """One fault: what to do and when (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["drop", "close", "error", "malformed", "stall", "bad_delta", "tool_call"]
    code: int | str | None = None
    reason: str | None = None
    message: str | None = None
    frame: Literal["text", "no_type", "binary"] = "text"
    seconds: float = Field(default=5.0, gt=0)
    delta: Literal["odd", "base64"] = "odd"
    name: str | None = Field(default=None, min_length=1)
    arguments: Literal["deep", "huge", "invalid"] = "deep"
    depth: int = Field(default=5000, ge=1, le=MAX_ARGUMENTS_SIZE // 2)
    size: int = Field(default=1_000_000, ge=1, le=MAX_ARGUMENTS_SIZE)
    at_s: float | None = Field(default=None, ge=0)
    after_append: int | None = Field(default=None, ge=1)
    during_response: int | None = Field(default=None, ge=1)
    after_deltas: int = Field(default=1, ge=0)
    after_response: int | None = Field(default=None, ge=1)
    every_session: bool = False
    every_nth_session: int | None = Field(default=None, ge=1)
    first_session: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _check(self) -> Fault:
        given = [name for name in _TRIGGERS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"a fault needs exactly one trigger of {', '.join(_TRIGGERS)}")
        if self.every_session and self.every_nth_session is not None:
            raise ValueError("every_session and every_nth_session exclude each other")
        for key in sorted(self.model_fields_set & _ACTION_KEYS.keys()):
            if self.action not in _ACTION_KEYS[key] and getattr(self, key) is not None:
                raise ValueError(f"a {self.action} fault takes no {key}")
        if self.action == "close" and self.code is not None:
            try:
                code = int(self.code)
            except ValueError:
                raise ValueError(f"a close code is a number, not {self.code!r}") from None
            if not (1000 <= code <= 4999) or code in (1004, 1005, 1006, 1015):
                raise ValueError(f"{code} is not a close code that can be sent")
            object.__setattr__(self, "code", code)
        elif self.action == "error" and self.code is not None:
            object.__setattr__(self, "code", str(self.code))
        return self

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Read ``key=value,key=value`` (the ``--fault`` syntax); ValueError says what is wrong."""
        fields: dict[str, Any] = {}
        for pair in spec.split(","):
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"expected key=value, got {pair.strip()!r}")
            fields[key.strip()] = value.strip()
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"{where + ': ' if where else ''}{first['msg']}") from None

    @property
    def close_code(self) -> int:
        return int(self.code) if self.code is not None else DEFAULT_CLOSE_CODE

    @property
    def error_code(self) -> str:
        return str(self.code) if self.code is not None else DEFAULT_ERROR_CODE

    @property
    def terminal(self) -> bool:
        """Whether the connection ends with this fault."""
        return self.action in ("drop", "close") or (
            self.action == "error" and self.error_code in FATAL_ERROR_CODES
        )

    @property
    def repeats(self) -> bool:
        """Whether the fault fires in every session it is due in, not only once."""
        return self.every_session or self.every_nth_session is not None

    def due_in_session(self, number: int) -> bool:
        """Whether the fault watches session `number` (counted from 1)."""
        if number < self.first_session:
            return False
        return self.every_nth_session is None or (number - self.first_session) % self.every_nth_session == 0

    def describe(self) -> dict[str, Any]:
        """The fault's fields that were set, for the event log."""
        return self.model_dump(exclude_defaults=True) | {"action": self.action}


class Faults(BaseModel):
    """The ``[faults]`` table of a script."""

    model_config = ConfigDict(extra="forbid")

    max_session_s: float | None = Field(default=None, gt=0)
    refuse_connections: int = Field(default=0, ge=0)
    inject: list[Fault] = Field(default_factory=list)


class FaultBook:
    """The faults of one simulator, shared by its connections: what is armed, what fired."""

    def __init__(self, faults: list[Fault] | None = None, refuse_connections: int = 0) -> None:
        self._faults: list[Fault] = list(faults or [])
        self._fired: set[int] = set()
        self.refusals_left = refuse_connections
        self.sessions = 0
        """Sessions watched so far: the number of the last one."""

    def add(self, fault: Fault) -> None:
        """Arm one more fault; sessions that start from now on watch for it."""
        self._faults.append(fault)

    def refuse_next(self, count: int) -> None:
        """Answer the next `count` handshakes with HTTP 503."""
        self.refusals_left = count

    def refuse_handshake(self) -> bool:
        """Whether to refuse the handshake now; counts the refusal."""
        if self.refusals_left <= 0:
            return False
        self.refusals_left -= 1
        return True

    def watch(self) -> FaultWatch:
        """A new session's view of the faults that may still fire in it; counts the session."""
        self.sessions += 1
        due = [
            index
            for index, fault in enumerate(self._faults)
            if index not in self._fired and fault.due_in_session(self.sessions)
        ]
        return FaultWatch(self, due)

    def fault(self, index: int) -> Fault:
        return self._faults[index]

    def claim(self, index: int) -> bool:
        """Whether fault `index` fires now: always for repeating faults, else only the first time."""
        if self._faults[index].repeats:
            return True
        if index in self._fired:
            return False
        self._fired.add(index)
        return True


class FaultWatch:
    """One session's triggers: fed what the session receives and sends, returns the faults due."""

    def __init__(self, book: FaultBook, indices: list[int]) -> None:
        self._book = book
        self._indices = indices
        self._appends = 0
        self._responses = 0
        self._deltas = 0

    @property
    def timed(self) -> list[tuple[float, int]]:
        """``(at_s, index)`` of the faults triggered by time."""
        return [
            (at_s, index) for index in self._indices if (at_s := self._book.fault(index).at_s) is not None
        ]

    def fire(self, index: int) -> Fault | None:
        """The fault at `index` if it fires now (a once-only fault may have fired elsewhere)."""
        return self._book.fault(index) if self._book.claim(index) else None

    def received(self, event_type: str | None) -> list[Fault]:
        if event_type != "input_audio_buffer.append":
            return []
        self._appends += 1
        return self._due(lambda fault: fault.after_append == self._appends)

    def sent(self, event_type: str) -> list[Fault]:
        if event_type == "response.created":
            self._responses += 1
            self._deltas = 0
            return self._due(self._during_response)
        if event_type in OUTPUT_DELTAS:
            self._deltas += 1
            return self._due(self._during_response)
        if event_type == "response.done":
            return self._due(lambda fault: fault.after_response == self._responses)
        return []

    def _during_response(self, fault: Fault) -> bool:
        return fault.during_response == self._responses and fault.after_deltas == self._deltas

    def _due(self, wanted: Any) -> list[Fault]:
        due = []
        for index in self._indices:
            if wanted(self._book.fault(index)) and (fault := self.fire(index)) is not None:
                due.append(fault)
        return due
