"""The control methods of the tools: `tools` (what the model sees) and `approve`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from voiced.control import ClientConnection, MethodRegistry, RpcError
from voiced.mcp.toolbox import NothingToApprove, Toolbox

from .control_methods import NOT_NOW


class ApproveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    yes: bool = Field(True, description="false cancels the call instead")


def register_tool_methods(methods: MethodRegistry, tools: Toolbox) -> None:
    """Add `tools` and `approve` to `methods`."""

    @methods.method("tools")
    async def list_tools(params: None, client: ClientConnection) -> dict[str, Any]:
        """Every tool the model sees, with its source and status; each MCP server's state."""
        return tools.describe()

    @methods.method("approve", ApproveParams)
    async def approve(params: ApproveParams, client: ClientConnection) -> dict[str, Any]:
        """Run the tool call waiting for the user's yes (or, with yes=false, cancel it)."""
        try:
            return tools.approve(params.yes)
        except NothingToApprove as exc:
            raise RpcError(NOT_NOW, str(exc)) from None
