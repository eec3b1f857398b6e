"""One MCP server, supervised: connected with the SDK, its tools listed, restarted with
backoff when it fails, its tools listed again when it says they changed.

A server that does not answer in time counts as failed; nothing here ever waits on a
server without a deadline, so a hanging one costs its own tools and nothing else.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import mcp.types as types
import trio
from mcp import ClientSession
from mcp.client.session import IncomingMessage, MessageHandlerFnT
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from voiced.exceptions import innermost, one_line

from .results import ToolUnavailable, result_output
from .settings import McpServerSettings

log = logging.getLogger("voiced.mcp")

CONNECT_TIMEOUT_S = 20.0
"""For starting, connecting, the handshake and the first tool list."""
PING_EVERY_S = 10.0
"""How often a quiet server is asked if it is still there (a dead pipe says nothing)."""
BACKOFF_S = (1.0, 300.0)
"""The first wait before a restart, doubled each failure in a row up to the second."""

STARTING, READY, FAILED = "starting", "ready", "failed"


@dataclass(frozen=True)
class ServerTool:
    """A tool as the server describes it."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass
class ServerStatus:
    state: str = STARTING
    error: str | None = None
    failures: int = 0
    tools: list[ServerTool] = field(default_factory=list)


def reason(exc: BaseException) -> str:
    """One line for a failure: the first real error inside the SDK's exception groups."""
    return one_line(innermost(exc))


@asynccontextmanager
async def open_session(settings: McpServerSettings, on_message: MessageHandlerFnT
                       ) -> AsyncIterator[ClientSession]:
    """A client session with the server (started, for a command), initialised."""
    async with AsyncExitStack() as stack:
        if settings.command is not None:
            params = StdioServerParameters(command=settings.command[0], args=settings.command[1:],
                                           env=settings.environment)
            read, write = await stack.enter_async_context(stdio_client(params))
        else:
            assert settings.url is not None, "settings give a command or a url"
            headers = {key: value.get_secret_value() for key, value in settings.headers.items()}
            if settings.uses_sse:
                read, write = await stack.enter_async_context(sse_client(settings.url, headers=headers))
            else:
                client = await stack.enter_async_context(create_mcp_http_client(headers=headers))
                read, write = await stack.enter_async_context(
                    streamable_http_client(settings.url, http_client=client))
        session = await stack.enter_async_context(ClientSession(read, write, message_handler=on_message))
        await session.initialize()
        yield session


class ToolServer:
    """Runs one server for as long as `run` runs; `changed()` is called whenever its tools
    or its state changed (the toolbox tells the session only of new tools), `failed(error)`
    on each failure."""

    def __init__(self, name: str, settings: McpServerSettings, *, changed: Callable[[], None],
                 failed: Callable[[str], None]) -> None:
        self.name = name
        self.settings = settings
        self.status = ServerStatus()
        self._changed = changed
        self._failed = failed
        self._session: ClientSession | None = None
        self._wake = trio.Event()
        """Set to check on the server now rather than at the next ping."""
        self._tools_changed = False

    async def run(self) -> None:
        """Connect, serve, and after a failure wait and connect again, until cancelled."""
        wait = BACKOFF_S[0]
        while True:
            try:
                await self._serve()
                error = "the connection ended"
            except Exception as exc:  # whatever the SDK or the server did: reported, then retried
                error = reason(exc)
            if self.status.state == READY:
                wait = BACKOFF_S[0]  # it worked for a while: start the backoff over
            self._session = None
            self.status = ServerStatus(FAILED, error, self.status.failures + 1)
            log.error("MCP server %s failed: %s (trying again in %g s)", self.name, error, wait)
            self._failed(error)
            self._changed()
            await trio.sleep(wait)
            wait = min(wait * 2, BACKOFF_S[1])
            self.status.state = STARTING

    async def _serve(self) -> None:
        with trio.CancelScope(deadline=trio.current_time() + CONNECT_TIMEOUT_S) as scope:
            async with open_session(self.settings, self._on_message) as session:
                await self._list_tools(session)
                scope.deadline = math.inf
                self._session = session
                self.status.state, self.status.error = READY, None
                log.info("MCP server %s ready: %d tools", self.name, len(self.status.tools))
                self._changed()
                await self._keep(session)
        if scope.cancelled_caught:
            raise TimeoutError(f"no answer within {CONNECT_TIMEOUT_S:g} s")

    async def _keep(self, session: ClientSession) -> None:
        """Ping while quiet, and at once after a call failed; list the tools again when the
        server says they changed."""
        while True:
            with trio.move_on_after(PING_EVERY_S):
                await self._wake.wait()
            self._wake = trio.Event()
            with trio.fail_after(CONNECT_TIMEOUT_S):
                if not self._tools_changed:
                    await session.send_ping()
                    continue
                self._tools_changed = False
                await self._list_tools(session)
            log.info("MCP server %s: tools changed, %d now", self.name, len(self.status.tools))
            self._changed()

    async def _list_tools(self, session: ClientSession) -> None:
        found: list[ServerTool] = []
        cursor: str | None = None
        while True:
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            found += [ServerTool(tool.name, tool.description or "", dict(tool.input_schema))
                      for tool in page.tools if self.settings.offers(tool.name)]
            if not (cursor := page.next_cursor):
                break
        self.status.tools = found

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._tools_changed = True
            self._wake.set()
        elif isinstance(message, Exception):
            log.debug("MCP server %s: %s", self.name, reason(message))

    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        """Call `tool`; its output for the model. Raises ToolUnavailable when the server is
        not connected or does not answer within the call timeout."""
        session, timeout = self._session, self.settings.call_timeout_s
        if session is None:
            raise ToolUnavailable(f"the MCP server {self.name} is not connected ({self.status.state})")
        with trio.move_on_after(timeout) as scope:
            try:
                result = await session.call_tool(tool, arguments, read_timeout_seconds=timeout)
            except Exception as exc:
                self._wake.set()  # is it still there?
                raise ToolUnavailable(f"the MCP server {self.name} failed: {reason(exc)}") from exc
        if scope.cancelled_caught:
            raise ToolUnavailable(f"the MCP server {self.name} did not answer within {timeout:g} s")
        return result_output(result)
