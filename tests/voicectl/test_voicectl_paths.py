"""The socket path, found in the same order the daemon uses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from voicectl import paths, runtime_dir


def write_config(folder: Path, text: str) -> Path:
    config = folder / "voiced" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)
    return config


def test_the_order_of_precedence(tmp_path: Path) -> None:
    write_config(tmp_path, '[control]\nsocket = "/from/config.sock"\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path), "XDG_RUNTIME_DIR": "/run/x"}
    assert paths.socket_path(None, env) == "/from/config.sock"
    env["VOICED_CONTROL__SOCKET"] = "/from/section-env.sock"
    assert paths.socket_path(None, env) == "/from/section-env.sock"
    env["VOICED_SOCKET"] = "/from/env.sock"
    assert paths.socket_path(None, env) == "/from/env.sock"
    assert paths.socket_path("/from/option.sock", env) == "/from/option.sock"


def test_the_default_is_in_the_runtime_dir(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir(mode=0o700)
    env = {"XDG_CONFIG_HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    assert paths.socket_path(None, env) == f"{tmp_path}/run/voiced/control.sock"
    env["XDG_RUNTIME_DIR"] = " "  # the rest of the rule: tests/voicectl/test_voicectl_runtime_dir.py
    assert paths.socket_path(None, env) == runtime_dir.default_socket_path(env)


def test_voiced_config_names_the_config_file(tmp_path: Path) -> None:
    config = write_config(tmp_path / "elsewhere", '[control]\nsocket = "~/v.sock"\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path), "VOICED_CONFIG": str(config)}
    assert paths.config_path(env) == str(config)
    assert paths.socket_path(None, env) == os.path.expanduser("~/v.sock")


def test_a_config_without_a_control_socket_falls_through(tmp_path: Path) -> None:
    write_config(tmp_path, '[api]\nmodel = "gpt-realtime"\n[control]\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}
    assert paths.socket_path(None, env) == f"{tmp_path}/voiced/control.sock"


@pytest.mark.parametrize(
    ("text", "message"),
    [("[control\nsocket=", "not valid TOML"), ("[control]\nsocket = 3\n", "must be a string")],
)
def test_a_broken_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(paths.ConfigError, match=message):
        paths.socket_path(None, {"XDG_CONFIG_HOME": str(tmp_path)})
