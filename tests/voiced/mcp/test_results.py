"""A tool's result as the model's output."""

from __future__ import annotations

import json
from types import ModuleType

import pytest

from voiced.mcp.results import MAX_OUTPUT_CHARS, result_output


@pytest.fixture(scope="module")
def types() -> ModuleType:
    """The MCP SDK's types, imported by the tests that use them rather than as the suite
    is collected (half a second of CPU)."""
    import mcp.types

    return mcp.types


def test_text_is_joined_other_content_named_and_errors_marked(types: ModuleType) -> None:
    result = types.CallToolResult(content=[types.TextContent(text="one"),
                                           types.ImageContent(data="AAAA", mime_type="image/png"),
                                           types.TextContent(text="two")])
    assert result_output(result) == "one\n[image left out]\ntwo"
    failed = types.CallToolResult(content=[types.TextContent(text="no such light")], is_error=True)
    assert json.loads(result_output(failed)) == {"error": "no such light"}


def test_structured_content_is_used_when_there_is_no_text(types: ModuleType) -> None:
    result = types.CallToolResult(content=[], structured_content={"temperature": 21})
    assert json.loads(result_output(result)) == {"temperature": 21}


def test_a_huge_error_is_cut_and_still_json(types: ModuleType) -> None:
    failed = types.CallToolResult(content=[types.TextContent(text="e" * 100_000)], is_error=True)
    output = result_output(failed)
    assert len(output) <= MAX_OUTPUT_CHARS
    assert "cut: " in json.loads(output)["error"]
