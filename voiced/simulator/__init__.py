"""A stand-in for the OpenAI Realtime API (GA protocol, WebSocket), for tests and keyless use.

``voiced --simulate`` runs it in-process; ``python -m voiced.simulator`` runs it
alone. It speaks first (``session.created``), detects speech by energy, commits and
transcribes user turns, answers with streamed audio (by default the user's own
words played back) or the turns of a :class:`Script`, and honours cancel, truncate
and delete as the service does.
"""

from voiced.simulator.recorder import LoggedEvent
from voiced.simulator.script import Script, ScriptError, ScriptResponse, ScriptTurn, Tone
from voiced.simulator.server import DEFAULT_SPEED, Simulator
from voiced.simulator.session import Session

__all__ = [
    "DEFAULT_SPEED",
    "LoggedEvent",
    "Script",
    "ScriptError",
    "ScriptResponse",
    "ScriptTurn",
    "Session",
    "Simulator",
    "Tone",
]
