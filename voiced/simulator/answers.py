"""What the assistant answers: the script's turns in order, else the user's words echoed.

A user turn (a commit) takes the next scripted turn, whose transcript it reports;
the response to that turn uses the same turn's answer. A response with no user
commit before it (a typed message, a bare ``response.create``) takes the next turn
itself. A turn whose answer is a function call spends two responses: the call, then
(after the client returned its output) the answer.
"""

from __future__ import annotations

import re
from typing import Any

from voiced.simulator.audio import tone, tone_for_text
from voiced.simulator.conversation import Conversation
from voiced.simulator.function_calls import declared_function
from voiced.simulator.responses import Modality, ResponsePlan
from voiced.simulator.script import FunctionCall, Script, ScriptResponse, ScriptTurn

GREETING = "Hello from the voiced simulator."
#: Said after a function call when the turn gives no text; `{output}` is the client's output,
#: cut to `SPOKEN_OUTPUT_CHARS` as a model would sum up a long one rather than read it out.
TOOL_ANSWER = "The tool said: {output}"
SPOKEN_OUTPUT_CHARS = 200
#: Said instead of calling a function the session did not declare.
MISSING_TOOL = "I cannot call {name}: this session declares no such tool."
#: Response instructions that quote a text between a `<<<` line and a `>>>` line ask for
#: that text, word for word (how voiced announces); the simulator obeys them.
_QUOTED = re.compile(r"^<<<\n(.*)\n>>>\Z", re.DOTALL | re.MULTILINE)


class Answers:
    """The scripted turns of one session and which of them the next response plays."""

    def __init__(self, script: Script | None) -> None:
        self._turns = list(script.turns) if script else []
        self._pending: ScriptTurn | None = None
        #: The answer owed once the client has returned a function call's output.
        self._after_call: ScriptResponse | None = None

    def user_turn(self) -> ScriptTurn | None:
        """A user turn was committed: the scripted turn it plays (its transcript, its answer)."""
        self._pending = self._next()
        return self._pending

    def function_call(self, tools: list[dict[str, Any]], tool_choice: Any,
                      instructions: Any = None) -> FunctionCall | None:
        """The call the next response makes, if its turn asks for one the session declared.

        After a call, the next response is its answer, never another call; a response told
        to say a quoted text makes none.
        """
        if self._after_call is not None or quoted_text(instructions) is not None:
            return None
        self._pending = self._pending or self._next()
        spec = self._pending.response if self._pending else None
        if spec is None or spec.function_call is None:
            return None
        if not declared_function(tools, tool_choice, spec.function_call.name):
            return None
        self._pending = None
        self._after_call = spec
        return spec.function_call

    def called_unasked(self) -> None:
        """A call no turn asked for was made (a fault): the next response answers it."""
        self._after_call = ScriptResponse()

    def plan(self, modality: Modality, conversation: Conversation, instructions: Any = None) -> ResponsePlan:
        """What the next (non-call) response says, and the audio it says it with: the text
        its `instructions` quote, if they do (no scripted turn is used up)."""
        if (quoted := quoted_text(instructions)) is not None:
            return ResponsePlan(modality, quoted, tone_for_text(quoted) if modality == "audio" else b"")
        user = conversation.last_user_item()
        echo = user
        spec: ScriptResponse | None
        if self._after_call is not None:
            spec, self._after_call = self._after_call, None
            text = TOOL_ANSWER.format(output=_last_output(conversation)) if spec.text is None else spec.text
            echo = None
        else:
            turn = self._pending or self._next()
            self._pending = None
            spec = turn.response if turn else None
            if spec is not None and spec.function_call is not None:
                text = MISSING_TOOL.format(name=spec.function_call.name)
                echo = None
            else:
                text = spec.text if spec and spec.text is not None else (user.text if user else GREETING)
        if modality == "text":
            return ResponsePlan("text", text)
        if spec is not None and spec.pcm is not None:
            audio = spec.pcm
        elif spec is not None and spec.audio == "echo" and user is not None:
            audio = user.audio
        elif echo is not None:
            audio = echo.audio
        else:
            audio = b""
        return ResponsePlan("audio", text, audio or (tone_for_text(text) if text else tone(0.3)))

    def _next(self) -> ScriptTurn | None:
        return self._turns.pop(0) if self._turns else None


def quoted_text(instructions: Any) -> str | None:
    """The text a response's instructions quote to be said word for word, if they do."""
    found = _QUOTED.search(instructions) if isinstance(instructions, str) else None
    return found.group(1) if found else None


def _last_output(conversation: Conversation) -> str:
    outputs = [item for item in conversation if item.wire.get("type") == "function_call_output"]
    output = outputs[-1].text if outputs else "(nothing)"
    return output if len(output) <= SPOKEN_OUTPUT_CHARS else output[:SPOKEN_OUTPUT_CHARS] + "..."
