"""What the ``bad_delta`` and ``tool_call`` faults send: bad audio and hostile tool arguments.

Pure functions, no I/O: the connection decides when they are sent (see
:mod:`voiced.simulator.faults`).

- A bad delta replaces the next ``response.output_audio.delta``: ``odd`` splits it into
  two deltas of an odd number of bytes each (the audio stays whole, as from a server
  that cuts its stream between the bytes of a sample); ``base64`` sends a delta that
  is not base64 before it.
- A hostile tool call names a function the session declared (the first, unless the
  fault names one) and gives it arguments that are ``deep`` (an array nested `depth`
  deep), ``huge`` (a string of `size` characters) or ``invalid`` (not JSON), each
  under the first parameter the function declares.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from voiced.simulator.faults import Fault
from voiced.simulator.ids import new_id
from voiced.simulator.script import FunctionCall

#: A delta payload no base64 decoder accepts, strict or lenient (15 characters once
#: the lenient one drops the spaces and the "!": the padding is wrong either way).
BAD_BASE64 = "this is not base64!"
#: The function a hostile call names when the session declares none.
UNDECLARED_TOOL = "no_such_tool"
#: The parameter hostile arguments go under when the function declares none.
DEFAULT_PARAMETER = "value"


def bad_deltas(fault: Fault, delta: dict[str, Any]) -> list[dict[str, Any]]:
    """What to send instead of the audio `delta` event when `fault` (a bad_delta) is armed."""
    if fault.delta == "base64":
        return [{**delta, "event_id": new_id("event"), "delta": BAD_BASE64}, delta]
    try:
        pcm = base64.b64decode(delta["delta"], validate=True)
    except (binascii.Error, ValueError, KeyError, TypeError):
        return [delta]
    if len(pcm) < 2:
        return [delta]
    cut = len(pcm) // 2 | 1  # odd, so both halves are odd when the whole is even
    halves = (pcm[:cut], pcm[cut:])
    return [
        {**delta, "event_id": new_id("event"), "delta": base64.b64encode(half).decode("ascii")}
        for half in halves
    ]


def hostile_call(fault: Fault, tools: list[dict[str, Any]]) -> FunctionCall:
    """The call a ``tool_call`` fault makes in a session that declared `tools`."""
    functions = [tool for tool in tools if isinstance(tool, dict) and tool.get("type") == "function"]
    if fault.name is not None:
        chosen = next((tool for tool in functions if tool.get("name") == fault.name), None)
        name = fault.name
    else:
        chosen = functions[0] if functions else None
        name = str(chosen["name"]) if chosen else UNDECLARED_TOOL
    return FunctionCall(name=name, arguments=hostile_arguments(fault, _first_parameter(chosen)))


def hostile_arguments(fault: Fault, parameter: str) -> str:
    """The arguments' JSON text, built as text: a parser, not this code, meets the depth."""
    key = f'{{"{parameter}":'
    if fault.arguments == "deep":
        return key + "[" * fault.depth + "]" * fault.depth + "}"
    if fault.arguments == "huge":
        return key + '"' + "x" * fault.size + '"}'
    return key + '"Europe/Par'  # cut off mid-string: not JSON


def _first_parameter(tool: dict[str, Any] | None) -> str:
    properties = ((tool or {}).get("parameters") or {}).get("properties") or {}
    names = [name for name in properties if isinstance(name, str) and name.isidentifier()]
    return names[0] if names else DEFAULT_PARAMETER
