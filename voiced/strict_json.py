"""JSON from peers we do not trust: only values Python can hold and send back.

`json.loads` reads `1e400` as infinity and `NaN` as a float, neither of which can be
encoded again, and an integer of more digits than Python allows raises deep inside.
`loads` refuses all three with a ValueError; `OutOfRange` marks valid JSON whose number
has no finite value here, so a caller can tell it from text that is not JSON at all.
Nesting too deep still raises RecursionError, as with `json.loads`.
"""

from __future__ import annotations

import json
import math
from typing import Any


class OutOfRange(ValueError):
    """Valid JSON holding a number that has no finite value here."""


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_int)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise OutOfRange(f"number {text[:24]} is out of range")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # over Python's limit on digits (sys.get_int_max_str_digits)
        raise OutOfRange(f"a number of {len(text)} digits is too long") from None
