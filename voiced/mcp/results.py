"""A tool's result as the output the model reads: text, bounded in size.

The SDK's types are imported only to read a result: a voiced with no MCP server never
loads them (about 28 MB and most of a second at start-up).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import mcp.types as types

MAX_OUTPUT_CHARS = 8000
"""What the model gets of one result; the rest is cut (it would cost tokens, and time)."""


def error_output(message: str) -> str:
    return json.dumps({"error": message})


def bounded(output: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """`output`, cut to `limit` characters with a note of how much was left out."""
    if len(output) <= limit:
        return output
    note = f"... [cut: {len(output) - limit} more characters]"
    return output[:limit - len(note)] + note


class ToolUnavailable(Exception):
    """The call could not be made or did not finish; the message is for the model."""


def _block_text(block: types.ContentBlock) -> str:
    import mcp.types as types

    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.EmbeddedResource) and isinstance(block.resource, types.TextResourceContents):
        return block.resource.text
    if isinstance(block, types.ResourceLink):
        return f"[resource {block.uri}]"
    return f"[{block.type} left out]"  # images, audio, binary: the model here reads text only


def result_output(result: types.CallToolResult) -> str:
    """The model's output for a `tools/call` result: its text (or its structured content when it
    has no text), an error as `{"error": ...}`; never more than `MAX_OUTPUT_CHARS`."""
    text = "\n".join(_block_text(block) for block in result.content)
    if not text and result.structured_content is not None:
        text = json.dumps(result.structured_content, default=str)
    if result.is_error:
        return bounded(error_output(bounded(text or "the tool failed", MAX_OUTPUT_CHARS - 100)))
    return bounded(text)
