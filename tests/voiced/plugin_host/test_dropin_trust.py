"""Drop-ins run as the user: only files nobody else could have written are imported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.voiced.plugin_host.fakes import make_host, write_plugins
from voiced.config import load_settings
from voiced.plugin_host import PluginHost


def leaves_a_mark(marker: Path) -> str:
    """A drop-in that, once imported, has run: it writes `marker`."""
    return f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"


@pytest.mark.parametrize("mode", [0o664, 0o646], ids=["group", "others"])
def test_a_drop_in_writable_by_others_is_refused_with_the_reason(tmp_path: Path, mode: int) -> None:
    """Guards [S]2: a drop-in file others may write is not imported (as ssh refuses such
    files); `plugins` says why and how to fix it."""
    marker = tmp_path / "ran"
    host, _ = make_host(tmp_path, {"shared": leaves_a_mark(marker)})
    (tmp_path / "dropins" / "shared.py").chmod(mode)
    host.load()
    [status] = host.status()
    assert status["status"] == "failed to load"
    shared = tmp_path / "dropins" / "shared.py"
    reason = f"{shared} is writable by group or others (chmod go-w {shared})"
    assert status["last_error"] == f"not loaded: {reason}"
    assert not marker.exists()


def test_a_folder_writable_by_others_refuses_its_drop_ins(tmp_path: Path) -> None:
    """Guards [S]2: in a folder others may write, they could have put or replaced the file."""
    marker = tmp_path / "ran"
    host, _ = make_host(tmp_path, {"mine": leaves_a_mark(marker)})
    (tmp_path / "dropins").chmod(0o1777)  # like /tmp
    host.load()
    assert "dropins is writable by group or others" in str(host.records["mine"].last_error)
    assert host.records["mine"].status == "failed to load"
    assert not marker.exists()


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")
def test_a_drop_in_of_another_user_is_refused(tmp_path: Path) -> None:
    """Guards [S]2: a file that belongs to someone else is theirs to change."""
    marker = tmp_path / "ran"
    host, _ = make_host(tmp_path, {"theirs": leaves_a_mark(marker)})
    os.chown(tmp_path / "dropins" / "theirs.py", 65534, 65534)
    host.load()
    assert "belongs to another user (uid 65534)" in str(host.records["theirs"].last_error)
    assert not marker.exists()


def test_the_users_own_drop_in_still_loads(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    host, _ = make_host(tmp_path, {"mine": leaves_a_mark(marker)})
    host.load()
    assert host.records["mine"].status == "enabled"
    assert marker.read_text() == "ran"


def test_relative_plugin_dirs_start_at_the_config_folder(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards [S]2: `VOICED_PLUGINS__DIRS=["extra"]` in a `.env` where voiced (or voicectl
    doctor) starts names the config folder's `extra/`, not one beside the `.env`."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("VOICED_CONFIG", raising=False)
    elsewhere = tmp_path / "elsewhere"
    write_plugins(elsewhere / "extra", {"planted": leaves_a_mark(tmp_path / "planted-ran")})
    write_plugins(tmp_path / "xdg" / "voiced" / "extra", {"mine": leaves_a_mark(tmp_path / "mine-ran")})
    (elsewhere / ".env").write_text('VOICED_PLUGINS__DIRS=["extra"]\n')
    monkeypatch.chdir(elsewhere)
    host = PluginHost(load_settings(), bundled=False)
    host.load()
    assert "planted" not in host.records
    assert host.records["mine"].location == str(tmp_path / "xdg" / "voiced" / "extra" / "mine.py")
    assert not (tmp_path / "planted-ran").exists()
