"""Where the control socket is, resolved exactly as the daemon resolves it.

Order, first wins: ``--socket PATH``, env ``VOICED_SOCKET``, env
``VOICED_CONTROL__SOCKET``, ``[control] socket`` in the config file (env
``VOICED_CONFIG``, else ``$XDG_CONFIG_HOME/voiced/config.toml``), and finally the
default, ``$XDG_RUNTIME_DIR/voiced/control.sock`` when that folder is private (the
daemon's own rule, in ``voicectl.runtime_dir``).

Standard library only, and plain ``os.path`` strings rather than pathlib: this runs
on every voicectl call and pathlib alone costs a few milliseconds to import.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from .runtime_dir import default_socket_path


class ConfigError(Exception):
    """The config file cannot be read; the message is one line for the user."""


def config_path(env: Mapping[str, str] | None = None) -> str:
    """The config file voiced reads (it need not exist)."""
    env = os.environ if env is None else env
    if env.get("VOICED_CONFIG"):
        return os.path.expanduser(env["VOICED_CONFIG"])
    config_home = env.get("XDG_CONFIG_HOME", "").strip() or os.path.expanduser("~/.config")
    return os.path.join(config_home, "voiced", "config.toml")


def _socket_from_config(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if "control" not in text:
        return None  # nothing to find: skip importing and running the TOML parser
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    control = config.get("control")
    socket = control.get("socket") if isinstance(control, dict) else None
    if socket is not None and not isinstance(socket, str):
        raise ConfigError(f"{path}: control.socket must be a string")
    return socket or None


def socket_path(option: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The control socket path; ``option`` is the ``--socket`` value, if given.

    Raises ConfigError if the config file has to be read and cannot be.
    """
    env = os.environ if env is None else env
    chosen = (
        option
        or env.get("VOICED_SOCKET")
        or env.get("VOICED_CONTROL__SOCKET")
        or _socket_from_config(config_path(env))
    )
    return os.path.expanduser(chosen) if chosen else default_socket_path(env)
