"""The default socket path: voicectl finds it where voiced puts it, in every environment."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.processes import SimulatorProcess, daemon_env, wait_for
from tests.support.pulse import PulseServer
from voicectl import paths, runtime_dir
from voiced.config import load_settings

NOBODY = 65534


@pytest.fixture
def base(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder for the runtime dirs of one test; /run/user/UID points into it, so the
    machine's own does not count."""
    with tempfile.TemporaryDirectory(prefix="voiced-rt-") as folder:
        monkeypatch.setattr(runtime_dir, "RUN_USER", str(Path(folder) / "run-user"))
        yield Path(folder)


def private(folder: Path) -> Path:
    folder.mkdir(mode=0o700)
    folder.chmod(0o700)
    return folder


def open_to_others(folder: Path) -> Path:
    folder.mkdir()
    folder.chmod(0o755)
    return folder


def someone_elses(folder: Path) -> Path:
    if os.geteuid() != 0:
        pytest.fail("this test gives a folder to another user: run the suite as root (CI does)")
    private(folder)
    os.chown(folder, NOBODY, NOBODY)
    return folder


def a_symlink(folder: Path) -> Path:
    folder.symlink_to(private(folder.with_name("real")))
    return folder


RUNTIME_DIRS: dict[str, tuple[Callable[[Path], str | None], bool]] = {
    # how $XDG_RUNTIME_DIR is (None: unset), and whether the socket may go there
    "private": (lambda base: str(private(base / "run")), True),
    "unset": (lambda base: None, False),
    "blank": (lambda base: " ", False),
    "relative": (lambda base: (private(base / "run"), "run")[1], False),
    "missing": (lambda base: str(base / "run"), False),
    "mode 0755": (lambda base: str(open_to_others(base / "run")), False),
    "another user's": (lambda base: str(someone_elses(base / "run")), False),
    "a symlink": (lambda base: str(a_symlink(base / "run")), False),
}


@pytest.mark.parametrize(("make", "usable"), RUNTIME_DIRS.values(), ids=RUNTIME_DIRS.keys())
def test_voicectl_finds_the_socket_where_voiced_puts_it(
    base: Path, make: Callable[[Path], str | None], usable: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards [S]5: with $XDG_RUNTIME_DIR unset or not private, voiced (platformdirs) and
    voicectl chose different sockets, so voicectl said "not running" while voiced ran.
    Both now follow one rule: a private runtime dir, else a private fallback."""
    runtime = make(base)
    env = {"TMPDIR": str(base), "XDG_CONFIG_HOME": str(base / "config")}
    if runtime is not None:
        env["XDG_RUNTIME_DIR"] = runtime
    monkeypatch.chdir(base)
    for name in ("XDG_RUNTIME_DIR", "VOICED_SOCKET", "VOICED_CONTROL__SOCKET", "VOICED_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    daemons = load_settings().socket_path
    assert paths.socket_path(None, env) == str(daemons)
    folder = base / "run" / "voiced" if usable else base / f"voiced-{os.geteuid()}"
    assert daemons == folder / "control.sock"


def test_run_user_comes_second(base: Path) -> None:
    own = private(base / "run-user") / str(os.geteuid())
    private(own)
    assert runtime_dir.socket_folder({"XDG_RUNTIME_DIR": str(base / "nowhere")}) == str(own / "voiced")
    own.chmod(0o755)
    assert runtime_dir.socket_folder({"TMPDIR": str(base)}) == str(base / f"voiced-{os.geteuid()}")


def test_a_folder_of_another_uid_is_never_chosen(base: Path) -> None:
    """The owner check as another uid sees our folders (no root needed)."""
    env = {"XDG_RUNTIME_DIR": str(private(base / "run")), "TMPDIR": str(base)}
    assert runtime_dir.socket_folder(env) == str(base / "run" / "voiced")
    assert runtime_dir.socket_folder(env, uid=4321) == str(base / "voiced-4321")
    relative = {"TMPDIR": "relative"}
    assert runtime_dir.default_socket_path(relative, uid=4321) == "/tmp/voiced-4321/control.sock"


def test_why_a_folder_is_not_private(base: Path) -> None:
    problem = runtime_dir.private_folder_problem
    assert problem(str(private(base / "ok"))) is None
    assert problem(str(base / "gone")) == "does not exist"
    assert problem(str(a_symlink(base / "link"))) == "is a symlink"
    (base / "file").touch()
    assert problem(str(base / "file")) == "is not a folder"
    assert problem(str(open_to_others(base / "open"))) == "is open to other users (mode 0755, want 0700)"
    assert problem(str(base / "ok"), uid=4321) == f"belongs to uid {os.geteuid()}, not to uid 4321"


def test_a_real_voiced_and_voicectl_meet_without_a_usable_runtime_dir(
    pulse: PulseServer, base: Path
) -> None:
    """Guards [S]5 end to end: voiced started with $XDG_RUNTIME_DIR at 0755 and no
    --socket; a plain `voicectl status` in the same environment finds it."""
    simulator = SimulatorProcess(base)
    env = daemon_env(pulse.env, simulator)
    env.update(HOME=str(base), XDG_CONFIG_HOME=str(base / "config"), XDG_DATA_HOME=str(base / "data"),
               XDG_STATE_HOME=str(base / "state"), TMPDIR=str(base),
               XDG_RUNTIME_DIR=str(open_to_others(base / "run")))
    bin_dir = Path(sys.executable).parent
    with (base / "voiced.stderr").open("wb") as stderr:
        daemon = subprocess.Popen([str(bin_dir / "voiced")], env=env, cwd=base, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        def status() -> subprocess.CompletedProcess[str]:
            assert daemon.poll() is None, (base / "voiced.stderr").read_text()
            return subprocess.run([str(bin_dir / "voicectl"), "status", "--json"], env=env,
                                  capture_output=True, text=True, timeout=20)

        answered = wait_for(lambda: (result := status()).returncode == 0 and result, 20, "voicectl status")
        assert '"state"' in answered.stdout
        assert (base / f"voiced-{os.geteuid()}" / "control.sock").exists()
    finally:
        daemon.terminate()
        daemon.wait(10)
        simulator.stop()
