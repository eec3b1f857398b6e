"""voicectl's entry point: a fast path for the common requests, typer for the rest.

Scripts, hotkeys and status bars run ``voicectl pause`` or ``voicectl events -f``
often, so the commands are parsed here by hand and answered with the standard-library
client: no typer, rich, pydantic, trio or voiced imports. Anything this parser does
not fully understand (``--help``, shell completion, unknown commands, options or bad
values) goes to the typer app in ``voicectl.cli``, which defines the same commands and
gives the usage errors. OPTIONS and COMMANDS say what the fast path accepts, in the
typer app's terms; tests/voicectl/test_voicectl_fast_path.py holds them against it.
"""

from __future__ import annotations

import os
import sys

from . import request_commands

MANY = sys.maxsize
"""As many positional arguments as given."""

# Every option the fast path understands, by spelling: the parameter it sets in the typer
# app and the type of its value (bool: a flag without one).
OPTIONS: dict[str, tuple[str, type]] = {
    "--json": ("as_json", bool),
    "--socket": ("socket", str),
    "--follow": ("follow", bool),
    "-f": ("follow", bool),
    "--for": ("seconds", float),
    "--state": ("state", str),
    "--timeout": ("timeout", float),
    "--limit": ("limit", int),
}

_VALUE_TYPES = dict(OPTIONS.values())  # parameter -> what its text must convert to

SHARED_OPTIONS = frozenset({"as_json", "socket"})
"""Taken by every command, before or after its name (typer: the app's callback and each command)."""


class Takes:
    """What one command takes on the fast path besides the shared options: its options and
    those it cannot do without, by parameter name, and how many positional arguments."""

    __slots__ = ("fewest", "most", "options", "required")

    def __init__(self, *options: str, required: tuple[str, ...] = (), fewest: int = 0, most: int = 0) -> None:
        self.options = frozenset(options + required)
        self.required = frozenset(required)
        self.fewest = fewest
        self.most = most


COMMANDS: dict[str, Takes] = {
    **{name: Takes() for name in request_commands.SIMPLE_COMMANDS},
    "say": Takes(fewest=1, most=MANY),
    "talk": Takes("seconds", most=1),
    "announce": Takes(fewest=1, most=MANY),
    "volume": Takes(most=1),
    "events": Takes("follow", most=MANY),
    "wait": Takes("timeout", required=("state",)),
    "history": Takes("limit", most=MANY),
    "call": Takes(fewest=1, most=2),
    "attach": Takes(),
}
"""The commands the fast path runs; every other one is typer's alone."""


def _parse_fast(args: list[str]) -> tuple[str, list[str], set[str], dict[str, str]] | None:
    """(command, positionals, flags, valued options as text) for a command line the fast
    path can run, options by their parameter names; None for one it leaves to typer."""
    positionals: list[str] = []
    flags: set[str] = set()
    values: dict[str, str] = {}
    rest = iter(args)
    for arg in rest:
        spelling, has_value, value = arg.partition("=")
        if arg == "--":
            positionals.extend(rest)
        elif arg in OPTIONS and OPTIONS[arg][1] is bool:
            flags.add(OPTIONS[arg][0])
        elif spelling in OPTIONS and OPTIONS[spelling][1] is not bool:
            found = value if has_value else next(rest, None)
            if not found:
                return None
            values[OPTIONS[spelling][0]] = found  # the last one counts, as in typer
        elif arg.startswith("-") and arg != "-":
            return None
        else:
            positionals.append(arg)
    if not positionals or positionals[0] not in COMMANDS:
        return None
    command, positionals = positionals[0], positionals[1:]
    takes = COMMANDS[command]
    if not takes.fewest <= len(positionals) <= takes.most:
        return None
    given = flags | values.keys()
    if given - takes.options - SHARED_OPTIONS or takes.required - given:
        return None
    for name, text in values.items():
        try:
            _VALUE_TYPES[name](text)
        except ValueError:
            return None  # typer says what is wrong with it
    return command, positionals, flags, values


def _run_fast(args: list[str]) -> int | None:
    if any(name.endswith("_COMPLETE") for name in os.environ):
        return None  # shell completion is typer's job
    parsed = _parse_fast(args)
    if parsed is None:
        return None
    command, positionals, flags, values = parsed
    socket = values.get("socket")
    as_json = "as_json" in flags

    if command in request_commands.SIMPLE_COMMANDS:
        return request_commands.run_simple(command, socket=socket, as_json=as_json)
    if command == "call":
        params = positionals[1] if len(positionals) == 2 else None
        return request_commands.run_call(positionals[0], params, socket=socket, as_json=as_json)
    if command == "say":
        return request_commands.run_say(positionals, socket=socket, as_json=as_json)
    if command == "announce":
        return request_commands.run_announce(positionals, socket=socket, as_json=as_json)
    if command == "volume":
        if positionals and not (positionals[0].isdigit() and int(positionals[0]) in request_commands.VOLUMES):
            return None  # typer says what is wrong with it
        level = int(positionals[0]) if positionals else None
        return request_commands.run_volume(level, socket=socket, as_json=as_json)
    if command == "history":
        limit = int(values["limit"]) if "limit" in values else None
        return request_commands.run_history(positionals, limit, socket=socket, as_json=as_json)
    if command == "talk":
        if positionals and positionals[0] not in request_commands.TALK_ACTIONS:
            return None
        seconds = float(values["seconds"]) if "seconds" in values else None
        action = positionals[0] if positionals else None
        return request_commands.run_talk(action, seconds, socket=socket, as_json=as_json)
    if command == "attach":
        from .attach import run_attach

        return run_attach(socket=socket)
    from . import events

    if command == "events":
        return events.run_events(positionals, follow="follow" in flags, socket=socket, as_json=as_json)
    timeout = float(values["timeout"]) if "timeout" in values else None
    return events.run_wait(values["state"], timeout, socket=socket, as_json=as_json)


def main(argv: list[str] | None = None) -> int:
    """Run voicectl with ``argv`` (default: the process arguments); returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = _run_fast(args)
        if code is not None:
            return code
        from .cli import run_typer

        return run_typer(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into something that stopped reading (e.g. `| head`): not an error.
        # Point stdout at /dev/null so the interpreter's final flush stays quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
