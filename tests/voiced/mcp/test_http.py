"""An MCP server over HTTP (streamable HTTP, and SSE as Home Assistant's speaks): the test
server as a subprocess on loopback, its token sent as a header and never logged."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from tests.support import forking
from tests.voiced.mcp.harness import TOOL_SERVER, call, running, script

TOKEN = "Bearer llat-the-long-lived-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["streamable-http", "sse"])
def http_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The test server over `request.param` on a loopback port: (its URL, its log of calls)."""
    port, log = free_port(), tmp_path / "ran-http.jsonl"
    process = forking.popen([sys.executable, str(TOOL_SERVER), request.param, str(port)],
                            env={**os.environ, "TOOL_SERVER_LOG": str(log)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"the test MCP server exited with {process.returncode}")
                time.sleep(0.1)
        path = "/mcp" if request.param == "streamable-http" else "/sse"
        yield f"http://127.0.0.1:{port}{path}", log
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.long(3)
def test_a_tool_over_http_with_the_token_in_a_header(home: Path, http_server: tuple[str, Path],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    url, log = http_server
    toml = f'[mcp.servers.http]\nurl = "{url}"\n[mcp.servers.http.headers]\nAuthorization = "{TOKEN}"\n'

    async def test() -> None:
        async with running(home, toml, script(call("add", {"a": 20, "b": 22}))) as r:
            await r.offering("add", "switch_light")
            r.daemon.say("Twenty and twenty-two?")
            await r.answered(2)
            assert r.items("function_call_output")[0]["output"] == "42"
            assert r.after("function_call_output").count("response.create") == 1
            assert TOKEN in log.read_text(), "the header reached the server"

    with caplog.at_level(logging.DEBUG):
        trio.run(test)
    assert TOKEN not in caplog.text
    assert "llat-the-long-lived-token" not in caplog.text
