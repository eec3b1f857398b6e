"""The control socket's folder and lock: only a private folder is used, one voiced a socket."""

from __future__ import annotations

import fcntl
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.voiced.control.test_control_server import run_briefly
from voiced.control import (
    ControlServer,
    MethodRegistry,
    SocketBusyError,
    SocketFolderError,
)

NOBODY = 65534


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("this test gives a folder to another user: run the suite as root (CI does)")


def test_a_missing_folder_is_created_private(socket_dir: Path) -> None:
    path = socket_dir / "a" / "voiced" / "control.sock"
    old = os.umask(0o022)
    try:
        run_briefly(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not path.exists()  # removed on the way out


def test_a_symlinked_folder_is_refused(socket_dir: Path) -> None:
    """Guards [S]9: a symlink where the socket's folder should be (it could point anywhere,
    someone else's folder included) is refused, not followed."""
    target = socket_dir / "target"
    target.mkdir(mode=0o700)
    (socket_dir / "voiced").symlink_to(target)
    with pytest.raises(SocketFolderError, match="is a symlink"):
        run_briefly(socket_dir / "voiced" / "control.sock")
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("mode", [0o777, 0o755, 0o710])
def test_a_folder_open_to_others_is_refused(socket_dir: Path, mode: int) -> None:
    """Guards [S]9: a folder with group or other bits is refused (it used to be accepted
    with a debug line), and left as it was."""
    folder = socket_dir / "open"
    folder.mkdir()
    folder.chmod(mode)
    with pytest.raises(SocketFolderError, match=f"open to other users \\(mode {mode:04o}"):
        run_briefly(folder / "control.sock")
    assert stat.S_IMODE(folder.stat().st_mode) == mode
    assert list(folder.iterdir()) == []


def test_another_users_folder_is_refused(socket_dir: Path) -> None:
    """Guards [S]9: a private folder that belongs to someone else is not ours to listen in."""
    needs_root()
    folder = socket_dir / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, NOBODY, NOBODY)
    with pytest.raises(SocketFolderError, match=f"belongs to uid {NOBODY}"):
        run_briefly(folder / "control.sock")


def test_a_held_lock_means_busy_even_when_the_socket_looks_stale(socket_dir: Path) -> None:
    """Guards [S]9: between one voiced's probe of a stale socket and its unlink, another
    could bind a new one and lose it. Whoever holds the lock beside the socket owns the
    file: a second voiced gives up and touches nothing, however stale the file looks."""
    path = socket_dir / "control.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    inode = path.stat().st_ino
    with (socket_dir / "control.sock.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another voiced, starting up
        with pytest.raises(SocketBusyError, match="another voiced is already running"):
            run_briefly(path)
        assert path.stat().st_ino == inode
    run_briefly(path)  # the lock is free again: the stale socket is replaced
    assert not path.exists()


def test_the_lock_is_held_while_serving_and_released_after(socket_dir: Path) -> None:
    path = socket_dir / "control.sock"

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(ControlServer(path, MethodRegistry()).serve)
            with (socket_dir / "control.sock.lock").open("w") as lock, pytest.raises(BlockingIOError):
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            nursery.cancel_scope.cancel()

    trio.run(main)
    run_briefly(path)  # released on the way out: the next one starts


VOICED = str(Path(sys.executable).parent / "voiced")


def test_voiced_says_in_one_line_that_the_fallback_folder_is_someone_elses(socket_dir: Path) -> None:
    """Guards [S]5: without a usable runtime dir the socket goes to $TMPDIR/voiced-UID; when
    another user made that folder first, start-up ends with one line, not a traceback."""
    needs_root()
    theirs = socket_dir / f"voiced-{os.geteuid()}"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, NOBODY, NOBODY)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VOICED_", "OPENAI_"))}
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(HOME=str(socket_dir), XDG_CONFIG_HOME=str(socket_dir / "config"), TMPDIR=str(socket_dir),
               XDG_DATA_HOME=str(socket_dir / "data"), XDG_STATE_HOME=str(socket_dir / "state"))
    result = subprocess.run([VOICED, "--simulate"], env=env, cwd=socket_dir, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"voiced: control socket folder {theirs} belongs to uid {NOBODY}, not to uid {os.geteuid()}: it "
        "must be your own folder, not a symlink, with no access for group or others (or choose another "
        "--socket)"
    ]
