"""The function names the model sees: a tool's own name when no other tool has it, else
`SERVER__tool`, always within the Realtime rules (letters, digits, `_` and `-`; 64 at most)."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping

MAX_NAME = 64
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")


def function_name(text: str) -> str:
    """`text` made a valid function name: other characters become `_`, long ones are cut
    and keep a short hash of the whole, so two long names stay apart."""
    name = _NOT_ALLOWED.sub("_", text) or "_"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{name[:MAX_NAME - 9]}_{digest}"


def offered_names(servers: Mapping[str, Iterable[str]], taken: Iterable[str] = ()
                  ) -> dict[str, tuple[str, str]]:
    """Function name -> (server, tool) for each server's tools, none of them in `taken` (the
    plugins' tools keep theirs). Servers are named in a stable order, so a name does not move
    from one tool to another when a server restarts."""
    taken = set(taken)
    counts = Counter(function_name(tool) for tools in servers.values() for tool in set(tools))
    names: dict[str, tuple[str, str]] = {}
    for server in sorted(servers):
        for tool in sorted(set(servers[server])):
            own = function_name(tool)
            name = own if counts[own] == 1 and own not in taken else function_name(f"{server}__{tool}")
            if name in taken or name in names:
                continue  # two names that still collide: the later one is not offered
            names[name] = (server, tool)
    return names
