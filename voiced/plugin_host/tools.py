"""The plugins' tools: collected at start, offered in the session, called for the model."""

from __future__ import annotations

import copy
import inspect
import json
import re
from collections.abc import Iterable
from typing import Any

import pluggy

from .api import RpcMethod, Tool
from .calling import PluginCalls, describe
from .discovery import PluginRecord, one_line

_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")

Impls = list[tuple[PluginRecord, pluggy.HookImpl]]


def offered(found: object) -> Iterable[Any]:
    """What a `voiced_tools` or `voiced_rpc_methods` implementation returned, as items: it may
    return a list, a single item, or None."""
    if found is None:
        return ()
    if isinstance(found, (Tool, RpcMethod, dict)):
        return (found,)
    if isinstance(found, Iterable):
        return found
    return (found,)  # not a tool: it fails where the items are checked


def parse_arguments(arguments: str | dict[str, Any]) -> dict[str, Any] | str:
    """The model's arguments as keyword arguments, or what is wrong with them. Hostile JSON
    (nested thousands deep, or too big to hold) is wrong, not a crash."""
    try:
        parsed = json.loads(arguments or "{}") if isinstance(arguments, str) else dict(arguments)
    except RecursionError:
        return "arguments are nested too deeply"
    except MemoryError:
        return "arguments are too big"
    except (ValueError, TypeError) as exc:
        return f"arguments are not JSON: {exc}"
    if not isinstance(parsed, dict):
        return "arguments must be a JSON object"
    return parsed


def _error(message: str) -> str:
    return json.dumps({"error": message})


class Tools:
    """Each tool by name, with the plugin offering it."""

    def __init__(self, calls: PluginCalls, timeout: float) -> None:
        """`timeout`: seconds a tool's handler may take."""
        self._calls = calls
        self._timeout = timeout
        self._tools: dict[str, tuple[PluginRecord, Tool]] = {}

    async def collect(self, impls: Impls, timeout: float) -> None:
        """Ask each `voiced_tools` implementation for its tools (`timeout` seconds each). A tool
        with a bad or taken name, or one that is not a `Tool`, is a failure of its plugin."""
        for record, impl in impls:
            ok, found = await self._calls.call_hook(record, "voiced_tools", impl, timeout=timeout)
            if not ok:
                continue
            for item in offered(found):
                try:
                    tool = item if isinstance(item, Tool) else Tool(**item)
                    if not _TOOL_NAME.match(tool.name):
                        raise ValueError(f"tool name {tool.name!r}: letters, digits, _ and - (64 at most)")
                    if (taken := self._tools.get(tool.name)) is not None:
                        raise ValueError(f"tool name {tool.name!r} is taken by {taken[0].name}")
                except (TypeError, ValueError) as exc:
                    self._calls.failed(record, "voiced_tools", one_line(exc))
                    continue
                self._tools[tool.name] = (record, tool)

    def active(self) -> list[Tool]:
        """The tools of the plugins still active."""
        return [tool for record, tool in self._tools.values() if record.active]

    async def call(self, name: str, arguments: str | dict[str, Any]) -> str:
        """Run tool `name` with the model's JSON `arguments`; the output for the model.

        Never raises: an unknown tool, bad arguments, a failure or a timeout become
        `{"error": "..."}` (failures and timeouts are reported against the plugin).
        """
        entry = self._tools.get(name)
        if entry is None or not entry[0].active:
            return _error(f"no tool named {name!r}")
        record, tool = entry
        kwargs = parse_arguments(arguments)
        if isinstance(kwargs, str):
            return _error(kwargs)
        try:
            inspect.signature(tool.handler).bind(**kwargs)
        except TypeError as exc:  # arguments that do not fit the handler: the model's mistake
            return _error(f"bad arguments: {exc}")
        except ValueError:
            pass  # a handler without a signature to check: it says so itself when called
        what = f"tool {name}"
        ok, result = await self._calls.call(record, what, tool.handler, timeout=self._timeout, **kwargs)
        if not ok:
            return _error(result)
        if isinstance(result, str):
            return result
        try:
            return json.dumps(result, default=str)
        except Exception as exc:  # circular, nested too deeply, or a __str__ that fails
            self._calls.failed(record, what, f"its result is not JSON: {describe(exc)}")
            return _error("the tool's result could not be read")

    async def session_config(self, session: dict[str, Any], impls: Impls, timeout: float) -> dict[str, Any]:
        """`session` with the active tools added and each `voiced_session_config` implementation
        applied (`timeout` seconds each).

        Each implementation works on a copy, kept only when it succeeds; `session` itself is
        not changed.
        """
        current = copy.deepcopy(session)
        if tools := self.active():
            current["tools"] = [*current.get("tools", []), *(tool.session_entry() for tool in tools)]
            current.setdefault("tool_choice", "auto")
        for record, impl in impls:
            candidate = json.loads(json.dumps(current))  # a copy; `current` is known to be JSON
            ok, result = await self._calls.call_hook(record, "voiced_session_config", impl, timeout=timeout,
                                                     session=candidate)
            if not ok:
                continue
            try:  # kept only if it can be sent: no sets, no NaN, not nested absurdly deep
                current = json.loads(json.dumps(result if isinstance(result, dict) else candidate,
                                                allow_nan=False))
            except (TypeError, ValueError, RecursionError) as exc:
                self._calls.failed(record, "voiced_session_config",
                                   f"its session is not JSON: {describe(exc)}")
        return current
