"""voicectl's entry point: a fast path for the common requests, typer for the rest.

Scripts, hotkeys and status bars run ``voicectl pause`` or ``voicectl events -f``
often, so the commands are parsed here by hand and answered with the standard-library
client: no typer, rich, pydantic, trio or voiced imports. Anything this parser does
not fully understand (``--help``, shell completion, unknown commands, options or bad
values) goes to the typer app in ``voicectl.cli``, which defines the same commands and
gives the usage errors.
"""

from __future__ import annotations

import os
import sys

_FLAGS = {"--json": "json", "--follow": "follow", "-f": "follow"}
_VALUED = {
    "--socket": "socket",
    "--state": "state",
    "--timeout": "timeout",
    "--for": "for",
    "--limit": "limit",
}

# command -> (the options it takes besides --json and --socket, fewest and most positionals)
_COMMANDS: dict[str, tuple[frozenset[str], int, int]] = {
    "say": (frozenset(), 1, 1 << 30),
    "talk": (frozenset({"for"}), 0, 1),
    "events": (frozenset({"follow"}), 0, 1 << 30),
    "wait": (frozenset({"state", "timeout"}), 0, 0),
    "history": (frozenset({"limit"}), 0, 1 << 30),
    "call": (frozenset(), 1, 2),
    "attach": (frozenset(), 0, 0),
}


def _parse_fast(args: list[str]) -> tuple[str, list[str], dict[str, str | bool]] | None:
    """(command, positionals, options) for a command line the fast path can run."""
    positionals: list[str] = []
    options: dict[str, str | bool] = {}
    rest = iter(args)
    for arg in rest:
        name, has_value, value = arg.partition("=")
        if arg == "--":
            positionals.extend(rest)
        elif arg in _FLAGS:
            options[_FLAGS[arg]] = True
        elif name in _VALUED:
            found = value if has_value else next(rest, None)
            if not found:
                return None
            options[_VALUED[name]] = found
        elif arg.startswith("-") and arg != "-":
            return None
        else:
            positionals.append(arg)
    if not positionals:
        return None
    command, positionals = positionals[0], positionals[1:]
    from .commands import SIMPLE_COMMANDS

    takes, fewest, most = _COMMANDS.get(command, (frozenset(), 0, 0))
    if command not in _COMMANDS and command not in SIMPLE_COMMANDS:
        return None
    if not fewest <= len(positionals) <= most or set(options) - takes - {"json", "socket"}:
        return None
    return command, positionals, options


def _number(text: object, kind: type = float) -> float | int | None:
    try:
        return kind(text)  # type: ignore[no-any-return]
    except (TypeError, ValueError):
        return None


def _run_fast(args: list[str]) -> int | None:
    if any(name.endswith("_COMPLETE") for name in os.environ):
        return None  # shell completion is typer's job
    parsed = _parse_fast(args)
    if parsed is None:
        return None
    command, positionals, options = parsed
    socket = options.get("socket")
    socket = socket if isinstance(socket, str) else None
    as_json = bool(options.get("json"))
    from . import commands

    if command in commands.SIMPLE_COMMANDS:
        return commands.run_simple(command, socket=socket, as_json=as_json)
    if command == "call":
        params = positionals[1] if len(positionals) == 2 else None
        return commands.run_call(positionals[0], params, socket=socket, as_json=as_json)
    if command == "say":
        return commands.run_say(positionals, socket=socket, as_json=as_json)
    if command == "history":
        limit = _number(options["limit"], int) if "limit" in options else None
        if "limit" in options and limit is None:
            return None
        return commands.run_history(positionals, limit, socket=socket, as_json=as_json)  # type: ignore[arg-type]
    if command == "talk":
        seconds = _number(options["for"]) if "for" in options else None
        bad_action = positionals and positionals[0] not in commands.TALK_ACTIONS
        if ("for" in options and seconds is None) or bad_action:
            return None
        return commands.run_talk(
            positionals[0] if positionals else None, seconds, socket=socket, as_json=as_json
        )
    if command == "attach":
        from .attach import run_attach

        return run_attach(socket=socket)
    from . import events

    if command == "events":
        return events.run_events(
            positionals, follow=bool(options.get("follow")), socket=socket, as_json=as_json
        )
    timeout = _number(options["timeout"]) if "timeout" in options else None
    if "state" not in options or ("timeout" in options and timeout is None):
        return None
    return events.run_wait(str(options["state"]), timeout, socket=socket, as_json=as_json)


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
