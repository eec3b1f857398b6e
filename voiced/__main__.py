"""`voiced`: start the daemon from flags and configuration, with one clear line on failure."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import stat
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr

from voiced.config import ConfigError, Settings, data_dir, load_settings, log_dir, secret_values

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]})

EXIT_STARTUP = 1
EXIT_CONFIG = 2


def fail(message: str, code: int) -> typer.Exit:
    print(f"voiced: {message}", file=sys.stderr)
    return typer.Exit(code)


@app.command()
def run(
    config: Annotated[Path | None, typer.Option(help="config file [~/.config/voiced/config.toml]")] = None,
    assistant: Annotated[str | None, typer.Option(help="an [assistants.NAME] profile")] = None,
    instructions: Annotated[str | None, typer.Option(help="the assistant's instructions")] = None,
    input_device: Annotated[str | None, typer.Option(help="microphone: index or name substring")] = None,
    output_device: Annotated[str | None, typer.Option(help="speaker: index or name substring")] = None,
    save_recordings: Annotated[bool, typer.Option("--save-recordings", help="record conversations")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="log at debug level")] = False,
    socket: Annotated[Path | None, typer.Option(envvar="VOICED_SOCKET", help="control socket path")] = None,
    simulate: Annotated[bool, typer.Option(
        "--simulate", help="talk to the bundled simulator: no key, no network")] = False,
) -> None:
    """Run the voice assistant daemon."""
    overrides = _overrides(instructions=instructions, input_device=input_device,
                           output_device=output_device, save_recordings=save_recordings,
                           debug=debug, socket=socket)
    if (key := _take_key_from_environment()) is not None:
        overrides.setdefault("api", {})["key"] = key  # so that a reload still has it
    try:
        settings = load_settings(config, **overrides)
        settings.profile(assistant)
    except ConfigError as exc:
        raise fail(str(exc), EXIT_CONFIG) from None
    if settings.api.key is None and not simulate:
        raise fail("no API key: set OPENAI_API_KEY (or api.key in the config), "
                   "or run with --simulate", EXIT_CONFIG)
    _start(settings, config, assistant, simulate, overrides)


def _overrides(*, instructions: str | None, input_device: str | None, output_device: str | None,
               save_recordings: bool, debug: bool, socket: Path | None) -> dict[str, Any]:
    """Command-line values as nested config sections (they win over every other source)."""
    sections: dict[str, dict[str, Any]] = {}

    def put(section: str, key: str, value: Any) -> None:
        sections.setdefault(section, {})[key] = value

    if instructions is not None:
        put("assistant", "instructions", instructions)
    if input_device is not None:
        put("audio", "input_device", input_device)
    if output_device is not None:
        put("audio", "output_device", output_device)
    if save_recordings:
        put("recording", "enabled", True)
    if debug:
        put("logging", "level", "debug")
    if socket is not None:
        put("control", "socket", socket.absolute())  # on the command line: from where voiced starts
    overrides: dict[str, Any] = dict(sections)
    if debug:
        overrides["debug_mode"] = True
    return overrides


def _start(settings: Settings, config: Path | None, assistant: str | None, simulate: bool,
           overrides: dict[str, Any]) -> None:
    import anyio

    from voiced import logs
    from voiced.audio.aec import exit_if_loaded
    from voiced.audio.devices import DeviceError
    from voiced.control import ControlSocketError, SocketFolderError
    from voiced.daemon import Options, run_daemon
    from voiced.exceptions import first_of, innermost

    os.umask(0o077)  # history, recordings, transcripts and logs: the user's alone
    _make_private(data_dir())
    if settings.logging.file_path is None:
        _make_private(log_dir())
    level = "debug" if settings.debug_mode else settings.logging.level
    logs.configure(level, settings.logging.file_path, log_dir(), secret_values(settings))
    options = Options(config_path=config, assistant=assistant, simulate=simulate, overrides=overrides)
    ready = False

    def on_ready() -> None:
        nonlocal ready
        ready = True

    try:
        anyio.run(functools.partial(run_daemon, settings, options, on_ready=on_ready), backend="trio")
    except Exception as exc:  # failures arrive wrapped in exception groups
        reason = None if ready else first_of(exc, (ControlSocketError, DeviceError, OSError))
        if isinstance(reason, SocketFolderError):  # a folder to fix first: retrying will not help
            raise fail(str(reason), EXIT_CONFIG) from None
        if reason is not None:
            raise fail(str(reason), EXIT_STARTUP) from None
        logging.getLogger("voiced").critical("voiced stopped on an unexpected error", exc_info=exc)
        raise fail(f"stopped on an unexpected error ({type(innermost(exc)).__name__}); the log has "
                   "the details", EXIT_STARTUP) from None
    exit_if_loaded(0)  # a clean stop: no interpreter teardown under livekit's native threads


def _take_key_from_environment() -> SecretStr | None:
    """The key from `VOICED_API__KEY` (else `OPENAI_API_KEY`), removed from the environment:
    plugins, child processes and /proc/PID/environ never see it."""
    # pydantic-settings reads VOICED_* names in any case; OPENAI_API_KEY is read as spelled.
    names = [*sorted(name for name in os.environ if name.upper() == "VOICED_API__KEY"), "OPENAI_API_KEY"]
    names = [name for name in names if name in os.environ]
    values = [os.environ.pop(name) for name in names]
    _wipe_initial_environment({os.fsencode(name) for name in names})
    key = next((value for value in values if value), None)
    return SecretStr(key) if key is not None else None


def _wipe_initial_environment(names: set[bytes]) -> None:
    """Zero the `names` entries in the environment block the process started with.

    unsetenv only drops the pointers: the strings stay in that block, which is what
    /proc/PID/environ shows. Nothing points at them any more, so they can be overwritten.
    Linux only; elsewhere (or if /proc is not there) this does nothing.
    """
    if not names:
        return
    try:
        with open("/proc/self/stat", "rb") as file:
            fields = file.read().rsplit(b")", 1)[1].split()  # after the command name: field 3 on
        start, end = int(fields[47]), int(fields[48])  # env_start and env_end (fields 50, 51)
        with open("/proc/self/environ", "rb") as file:
            block = file.read()
    except (OSError, ValueError, IndexError):
        return
    if len(block) != end - start:
        return
    offset = 0
    for entry in block.split(b"\0"):
        if entry.partition(b"=")[0] in names:
            ctypes.memset(start + offset, 0, len(entry))
        offset += len(entry) + 1


def _make_private(folder: Path) -> None:
    """Take group and others off one of voiced's own folders (an older voiced made them 0755).
    A missing one is left to be created (0700, under the umask) by whoever needs it."""
    with contextlib.suppress(OSError):  # not ours to change: the files in it are still 0600
        if stat.S_IMODE(folder.stat().st_mode) & 0o077:
            folder.chmod(0o700)


def main() -> None:
    app(prog_name="voiced")


if __name__ == "__main__":
    main()
