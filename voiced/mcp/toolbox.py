"""Every tool the model sees: the plugins' and the MCP servers', under one name each.

The toolbox runs the servers (each supervised on its own), offers their tools in the
session, routes the model's calls to a plugin or a server, and holds back the calls that
need the user's yes until it comes. A call answers the model through the conversation's
one tool path (voiced.daemon.effects), whatever its source.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from voiced.bus import Event
from voiced.conversation import CallTool
from voiced.plugin_host.api import Tool
from voiced.plugin_host.tools import parse_arguments

from .confirmation import ANSWER_WAIT_S, Confirmations, Pending, asking_output
from .names import offered_names
from .results import ToolUnavailable, bounded, error_output
from .settings import McpServerSettings, McpSettings

if TYPE_CHECKING:
    from .server import ToolServer

log = logging.getLogger("voiced.mcp")

SDK_CHATTER = ("httpx2", "mcp.client.streamable_http", "mcp.client.sse")
"""Loggers that say a line per HTTP request (every call and ping): for --debug only."""
PluginCaller = Callable[[str, str | dict[str, Any]], Awaitable[str]]
NONE, NEEDED, ASKED, APPROVED, DECLINED = "none", "needed", "asked", "approved", "declined"


@dataclass(frozen=True)
class Offered:
    """A server's tool under the name the model calls it by."""

    server: str
    tool: str


class NothingToApprove(Exception):
    """`approve` with no call waiting for the user's answer."""


class Toolbox:
    """The tools of the plugins (from `plugin_tools`, called through `call_plugin_tool`) and of
    the `[mcp.servers]`.

    `changed()` is called when the servers' tools offered changed (the session needs an
    update), not for a server's state alone (a server failing over and over);
    `run_confirmed(call_id, name, arguments)` makes an approved call the model's
    and runs it; `publish` reports failures and declined calls.
    """

    def __init__(self, settings: McpSettings, *, plugin_tools: Callable[[], list[Tool]],
                 call_plugin_tool: PluginCaller, publish: Callable[[str, dict[str, Any]], Any],
                 changed: Callable[[], None], run_confirmed: Callable[[str, str, str], None]) -> None:
        self._changed = changed
        self._told: list[dict[str, Any]] = []
        """The servers' tool entries as `changed` was last told of them."""
        self.servers = {name: self._server(name, server) for name, server in settings.servers.items()}
        self._scopes: dict[str, trio.CancelScope] = {}
        self._plugin_tools = plugin_tools
        self._call_plugin_tool = call_plugin_tool
        self._publish = publish
        self._run_confirmed = run_confirmed
        self.confirmations = Confirmations()
        self._outcomes: dict[str, str] = {}
        """call_id -> the confirmation state its `tool.result` reports."""
        self._approved: set[str] = set()
        self._answer_timer = trio.CancelScope()
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every server until cancelled; `started` at once (servers connect meanwhile)."""
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            for chatty in SDK_CHATTER:
                logging.getLogger(chatty).setLevel(logging.WARNING)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for server in self.servers.values():
                self._start(server)
            task_status.started()
            await trio.sleep_forever()

    def reconfigure(self, settings: McpSettings) -> None:
        """New `[mcp.servers]` (a reload): a server whose table changed starts anew, one no
        longer configured stops, the others keep running."""
        gone = [name for name, server in self.servers.items()
                if settings.servers.get(name) != server.settings]
        for name in gone:
            self._scopes.pop(name, trio.CancelScope()).cancel()
            del self.servers[name]
        for name, server_settings in settings.servers.items():
            if name not in self.servers:
                self.servers[name] = self._server(name, server_settings)
                self._start(self.servers[name])  # it says when its tools are ready
        if gone:
            self._server_changed()

    def _server(self, name: str, settings: McpServerSettings) -> ToolServer:
        from .server import ToolServer  # the SDK: only for a configured server

        return ToolServer(name, settings, changed=self._server_changed, failed=self._reporter(name))

    def _server_changed(self) -> None:
        """A server's state or tools changed: tell `changed` if the tools offered differ."""
        if (entries := self._entries()) != self._told:
            self._told = entries
            self._changed()

    def _start(self, server: ToolServer) -> None:
        if self._nursery is not None:
            self._scopes[server.name] = scope = trio.CancelScope()
            self._nursery.start_soon(self._run_server, server, scope, name=f"mcp server {server.name}")

    @staticmethod
    async def _run_server(server: ToolServer, scope: trio.CancelScope) -> None:
        with scope:
            await server.run()

    # -- what the model sees ---------------------------------------------------------------

    def offered(self) -> dict[str, Offered]:
        """The servers' ready tools by function name; plugin tools keep their own names."""
        taken = [tool.name for tool in self._plugin_tools()]
        tools = {name: [tool.name for tool in server.status.tools] for name, server in self.servers.items()}
        return {name: Offered(*where) for name, where in offered_names(tools, taken).items()}

    def _entries(self) -> list[dict[str, Any]]:
        """The session's `tools` entries for the servers' tools offered."""
        entries = []
        for name, where in self.offered().items():
            tool = next(t for t in self.servers[where.server].status.tools if t.name == where.tool)
            entries.append({"type": "function", "name": name, "description": tool.description,
                            "parameters": tool.parameters or {"type": "object", "properties": {}}})
        return entries

    def add_to_session(self, session: dict[str, Any]) -> dict[str, Any]:
        """`session` with the servers' tools added to its `tools`."""
        entries = self._entries()
        if not entries:
            return session
        try:
            json.dumps(entries, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            log.error("MCP tools left out of the session: a schema is not JSON (%s)", exc)
            return session
        tools = [*session.get("tools", []), *entries]
        return {**session, "tools": tools, "tool_choice": session.get("tool_choice", "auto")}

    def describe(self) -> dict[str, Any]:
        """Every tool the model sees, with its source and status; every server's status."""
        tools: list[dict[str, Any]] = [
            {"name": tool.name, "source": "plugin", "server": None, "status": "ready", "confirm": False}
            for tool in self._plugin_tools()]
        for name, where in sorted(self.offered().items()):
            server = self.servers[where.server]
            tools.append({"name": name, "source": "mcp", "server": where.server, "tool": where.tool,
                          "status": server.status.state, "confirm": where.tool in server.settings.confirm})
        servers = [{"name": name, "state": server.status.state, "error": server.status.error,
                    "failures": server.status.failures, "tools": len(server.status.tools)}
                   for name, server in sorted(self.servers.items())]
        pending = self.confirmations.pending
        waiting = None if pending is None else {"call_id": pending.call_id, "name": pending.name,
                                                "arguments": pending.arguments}
        return {"tools": tools, "servers": servers, "awaiting_confirmation": waiting}

    def stamp(self, type_: str, data: dict[str, Any]) -> dict[str, Any]:
        """`tool.called` and `tool.result` with the tool's source and its confirmation."""
        if type_ not in ("tool.called", "tool.result"):
            return data
        where = self.offered().get(str(data.get("name")))
        source = {"source": "mcp", "server": where.server} if where else {"source": "plugin", "server": None}
        call_id = str(data.get("call_id"))
        if type_ == "tool.called":
            confirmation = APPROVED if call_id in self._approved else (
                NEEDED if where and self._needs_yes(where) else NONE)
        else:
            confirmation = self._outcomes.pop(call_id, NONE)
        return {**data, **source, "confirmation": confirmation}

    # -- calls -----------------------------------------------------------------------------

    async def call(self, call: CallTool) -> str:
        """Run the model's call; the output for the model. Never raises for the tool's sake:
        an unknown tool, bad arguments, a failure or a timeout become `{"error": ...}`."""
        where = self.offered().get(call.name)
        if where is None:
            return await self._call_plugin_tool(call.name, call.arguments)
        approved = call.call_id in self._approved
        self._approved.discard(call.call_id)
        if approved:
            self._outcomes[call.call_id] = APPROVED
        elif self._needs_yes(where):
            return self._ask(call)
        arguments = parse_arguments(call.arguments)
        if isinstance(arguments, str):
            return error_output(arguments)
        try:
            return await self.servers[where.server].call(where.tool, arguments)
        except ToolUnavailable as exc:
            self._failed(where.server, f"tools/call {where.tool}: {exc}")
            return bounded(error_output(str(exc)))

    def _needs_yes(self, where: Offered) -> bool:
        return where.tool in self.servers[where.server].settings.confirm

    def _ask(self, call: CallTool) -> str:
        if (replaced := self.confirmations.ask(call.call_id, call.name, call.arguments)) is not None:
            self._declined(replaced, "another call took its place")
        self._outcomes[call.call_id] = ASKED
        self._answer_timer.cancel()
        self._answer_timer = trio.CancelScope()
        if self._nursery is not None:
            self._nursery.start_soon(self._expire, call.call_id, self._answer_timer)
        log.info("tool %s waits for the user's yes", call.name)
        return asking_output(call.name)

    async def _expire(self, call_id: str, timer: trio.CancelScope) -> None:
        with timer:
            await trio.sleep(ANSWER_WAIT_S)
            if (pending := self.confirmations.take(call_id)) is not None:
                self._declined(pending, "no answer")

    # -- the user's answer -----------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """A bus listener: the user's turns answer a call waiting for confirmation."""
        if self.confirmations.pending is None:
            return
        if event.type == "user.speech.started":
            self.confirmations.user_started(event.data.get("item_id"))
        elif event.type == "user.transcript.completed":
            data = event.data
            answer = self.confirmations.user_said(str(data.get("text") or ""), data.get("item_id"),
                                                  typed=bool(data.get("typed")))
            if answer is None:
                return
            pending, yes = answer
            if yes:
                self._approve(pending, "the user said yes")
            else:
                self._declined(pending, "the user did not say yes")

    def approve(self, yes: bool = True) -> dict[str, Any]:
        """`voicectl approve`: run (or with `yes` False, cancel) the call waiting for a yes."""
        pending = self.confirmations.take()
        if pending is None:
            raise NothingToApprove("no tool call is waiting for confirmation")
        if yes:
            self._approve(pending, "approved with voicectl")
        else:
            self._declined(pending, "declined with voicectl")
        return {"name": pending.name, "arguments": pending.arguments, "approved": yes}

    def _approve(self, pending: Pending, why: str) -> None:
        self._answer_timer.cancel()
        call_id = f"call_voiced_{secrets.token_hex(8)}"
        self._approved.add(call_id)
        log.info("tool %s confirmed (%s): running it", pending.name, why)
        self._run_confirmed(call_id, pending.name, pending.arguments)

    def _declined(self, pending: Pending, why: str) -> None:
        self._answer_timer.cancel()
        log.info("tool %s not run: %s", pending.name, why)
        self._publish("tool.result", self.stamp("tool.result", {
            "call_id": pending.call_id, "name": pending.name,
            "output": error_output(f"not run: {why}")}) | {"confirmation": DECLINED})

    # -- the servers -----------------------------------------------------------------------

    def _reporter(self, server: str) -> Callable[[str], None]:
        return lambda error: self._failed(server, error)

    def _failed(self, server: str, error: str) -> None:
        self._publish("plugin.failed", {"plugin": f"mcp:{server}", "hook": "mcp", "error": error,
                                        "source": "mcp", "server": server})
