"""`[mcp.servers.NAME]`: the MCP servers whose tools the model is offered.

A server is a command voiced starts and speaks to over stdio (`command`, `env`,
`secret_env`), or a URL it connects to (`url`, `headers`): streamable HTTP, or SSE for a
URL ending in `/sse` (Home Assistant's `mcp_server`) or when `transport = "sse"`. `headers`
and `secret_env` hold tokens, so their values are secrets: masked in `config show`,
redacted from the logs. `env` is plain (paths, switches): redacting it would blot out the logs.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator

ServerName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,24}$")]
"""A server's name: it prefixes its tools' names when they clash (`NAME__tool`)."""


class McpServerSettings(BaseModel):
    """One MCP server: how to reach it and which of its tools the model may call."""

    model_config = ConfigDict(extra="forbid")

    command: list[str] | None = Field(None, min_length=1, description="the server's command line (stdio)")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment (stdio)")
    secret_env: dict[str, SecretStr] = Field(default_factory=dict,
                                             description="extra environment that holds secrets (stdio)")
    url: str | None = Field(None, description="an http:// or https:// endpoint")
    transport: Literal["auto", "streamable_http", "sse"] = "auto"
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="sent with every request")
    tools: list[str] | None = Field(None, description="the tools offered to the model; unset: all")
    confirm: list[str] = Field(default_factory=list, description="tools that run only after the user's yes")
    call_timeout_s: float = Field(30.0, gt=0, le=600, description="seconds a tool call may take")

    @model_validator(mode="after")
    def _one_way_to_reach_it(self) -> McpServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (a stdio server) or url (an HTTP server)")
        if self.command is None and (self.env or self.secret_env):
            raise ValueError("env and secret_env are for a command; an HTTP server takes headers")
        if both := sorted(self.env.keys() & self.secret_env.keys()):
            raise ValueError(f"{', '.join(both)}: in both env and secret_env")
        if self.url is None and self.headers:
            raise ValueError("headers are for a url; a command takes env")
        if self.url is not None and urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError("url must start with http:// or https://")
        return self

    @property
    def uses_sse(self) -> bool:
        """Whether the URL speaks the older SSE transport rather than streamable HTTP."""
        if self.transport != "auto":
            return self.transport == "sse"
        return self.url is not None and urlsplit(self.url).path.rstrip("/").endswith("/sse")

    @property
    def environment(self) -> dict[str, str]:
        """The extra environment of a command: `env` and `secret_env`, revealed."""
        return {**self.env, **{key: value.get_secret_value() for key, value in self.secret_env.items()}}

    def offers(self, tool: str) -> bool:
        return self.tools is None or tool in self.tools


class McpSettings(BaseModel):
    """`[mcp]`: one `[mcp.servers.NAME]` table per server."""

    model_config = ConfigDict(extra="forbid")

    servers: dict[ServerName, McpServerSettings] = Field(default_factory=dict)
