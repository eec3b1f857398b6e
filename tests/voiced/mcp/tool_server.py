"""A small MCP server for the tests, written with the SDK: run it as a script.

`python tool_server.py [stdio | streamable-http PORT | sse PORT]`. Its tools: `add` (a sum),
`slow` (sleeps as long as asked), `broken` (always fails), `switch_light` (acts on the world:
configured to need a yes), `huge` (a result far over the cut), `grow` (adds the tool `extra`
and says the list changed), `crash` (ends the process). Each call is appended to the file
named by `$TOOL_SERVER_LOG`, one JSON line, so a test can see what actually ran.
"""

from __future__ import annotations

import json
import os
import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("test-tools")


def ran(name: str, **arguments: object) -> None:
    if log := os.environ.get("TOOL_SERVER_LOG"):
        with open(log, "a") as file:
            file.write(json.dumps({"tool": name, "arguments": arguments}) + "\n")


@server.tool()
def add(a: int, b: int, ctx: Context) -> int:
    """Add two whole numbers."""
    sent = {key: value for key, value in (ctx.headers or {}).items() if key == "authorization"}
    ran("add", a=a, b=b, **sent)
    return a + b


@server.tool()
async def slow(seconds: float) -> str:
    """Wait, then say so."""
    ran("slow", seconds=seconds)
    await anyio.sleep(seconds)
    return f"waited {seconds} s"


@server.tool()
def broken() -> str:
    """Always fails."""
    ran("broken")
    raise ToolError("the light bulb exploded")


@server.tool()
def switch_light(room: str, on: bool) -> str:
    """Switch the light of a room on or off."""
    ran("switch_light", room=room, on=on)
    return f"the {room} light is {'on' if on else 'off'}"


@server.tool()
def huge() -> str:
    """A very long answer."""
    ran("huge")
    return "x" * 200_000


@server.tool()
def crash() -> str:
    """End the server at once, as a crash would."""
    ran("crash")
    os._exit(3)


def extra() -> str:
    """A tool that appears later."""
    ran("extra")
    return "extra!"


@server.tool()
async def grow(ctx: Context) -> str:
    """Add the tool `extra`."""
    ran("grow")
    server.add_tool(extra)
    await ctx.session.send_tool_list_changed()
    return "grown"


if __name__ == "__main__":
    if sys.argv[1:2] == ["streamable-http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    elif sys.argv[1:2] == ["sse"]:
        server.run("sse", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
