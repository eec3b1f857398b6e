"""The client's checks on what it connects to: who serves the socket, and a refusal it must show."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from voicectl import client

from .conftest import Daemon

NOBODY = 65534

# A stand-in voiced run as another user: answers every line with a healthy status.
IMPOSTOR = """
import socket, sys
server = socket.socket(socket.AF_UNIX)
server.bind(sys.argv[1])
server.listen()
print("ready", flush=True)
while True:
    connection, _ = server.accept()
    with connection:
        if connection.recv(65536):
            connection.sendall(b'{"jsonrpc":"2.0","id":1,"result":{"state":"listening"}}\\n')
"""


@pytest.fixture
def impostor(home: Path) -> Iterator[Path]:
    """A socket served by uid 65534 (nobody), in a folder of theirs; its path."""
    if os.geteuid() != 0:
        pytest.fail("this test runs a server as another user: run the suite as root (CI does)")
    if not shutil.which("setpriv"):
        pytest.fail("setpriv is missing: apt-get install -y util-linux")
    folder = home / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, NOBODY, NOBODY)
    home.chmod(0o711)  # nobody may pass through to their folder
    path = folder / "control.sock"
    server = subprocess.Popen(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", IMPOSTOR,
         str(path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline() == "ready\n"
        yield path
    finally:
        server.kill()
        server.wait()


def test_a_socket_served_by_another_user_is_refused(impostor: Path, voicectl: Any) -> None:
    """Guards [S]9: voicectl checks who serves the socket (SO_PEERCRED); a socket another
    user put where voiced's should be is refused with a clear line, not believed."""
    result = voicectl("status", "--socket", str(impostor))
    assert result.returncode == 1
    assert result.stderr == (
        f"voicectl: cannot reach voiced at {impostor}: refusing a socket served by another user "
        f"(uid {NOBODY}, not you)\n"
    )
    assert result.stdout == ""


def test_the_trusted_uids_are_checked(daemon: Daemon) -> None:
    """Guards [S]9 without a second user: the uid the kernel reports is held against the
    trusted ones (by default our own and root's)."""
    with client.Connection(str(daemon.path)) as connection:
        assert connection.call("status")["state"] == "listening"
    refused = f"served by another user \\(uid {os.geteuid()}, not you"
    with pytest.raises(client.DaemonUnreachable, match=refused):
        client.Connection(str(daemon.path), trusted_uids=(os.geteuid() + 1,))


def test_a_refused_connection_is_an_answer_not_a_hang_up(home: Path, voicectl: Any) -> None:
    """Guards [S]15 from the client's side: over the daemon's connection cap, voicectl
    shows voiced's reason (exit 2) rather than "closed the connection without answering"."""
    with Daemon(home / "run" / "voiced" / "control.sock", max_connections=0) as daemon:
        with pytest.raises(client.DaemonError, match="too many connections"):
            client.request(str(daemon.path), "status")
        result = voicectl("pause")
    assert result.returncode == 2
    assert result.stderr == "voicectl: too many connections (at most 0); try again later\n"
