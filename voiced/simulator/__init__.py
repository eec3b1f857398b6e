"""A stand-in for the OpenAI Realtime API (GA protocol, WebSocket), for tests and keyless use.

``voiced --simulate`` runs it in-process; ``python -m voiced.simulator`` runs it
alone. It speaks first (``session.created``), detects speech by energy, commits and
transcribes user turns, answers with streamed audio (by default the user's own
words played back) or the turns of a :class:`Script` (late or failed transcripts,
function calls), honours cancel, truncate and delete as the service does, closes a
session at its cap, and injects the :class:`Fault` s it is given.
"""

from voiced.simulator.faults import Fault, Faults
from voiced.simulator.recorder import LoggedEvent
from voiced.simulator.script import FunctionCall, Script, ScriptError, ScriptResponse, ScriptTurn, Tone
from voiced.simulator.server import DEFAULT_SPEED, Simulator
from voiced.simulator.session import Session

__all__ = [
    "DEFAULT_SPEED",
    "Fault",
    "Faults",
    "FunctionCall",
    "LoggedEvent",
    "Script",
    "ScriptError",
    "ScriptResponse",
    "ScriptTurn",
    "Session",
    "Simulator",
    "Tone",
]
