"""The MCP SDK is loaded only for a configured server."""

from __future__ import annotations

import subprocess
import sys


def test_a_voiced_without_mcp_servers_never_loads_the_sdk() -> None:
    """Guards a review finding: importing the daemon imported the `mcp` SDK's types (about
    28 MB of resident memory and most of a second of start-up) for every voiced, with or
    without a server to talk to."""
    code = ("import sys, voiced.__main__, voiced.daemon.wiring, voiced.mcp.toolbox\n"
            "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
