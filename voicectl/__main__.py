"""voicectl's entry point: a fast path for the common requests, typer for the rest.

Scripts and hotkeys run ``voicectl pause`` often, so the commands that send one
request are parsed here by hand and answered with the standard-library client:
no typer, rich, pydantic, trio or voiced imports. Anything this parser does not
fully understand (``--help``, shell completion, unknown commands or options) goes
to the typer app in ``voicectl.cli``, which defines the same commands.
"""

from __future__ import annotations

import os
import sys


def _parse_fast(args: list[str]) -> tuple[str, list[str], str | None, bool] | None:
    """(command, positionals, socket, json) for a command line the fast path can run."""
    positionals: list[str] = []
    socket: str | None = None
    as_json = False
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            positionals.extend(rest)
        elif arg == "--json":
            as_json = True
        elif arg == "--socket":
            socket = next(rest, None)
            if not socket:
                return None
        elif arg.startswith("--socket="):
            socket = arg.partition("=")[2]
            if not socket:
                return None
        elif arg.startswith("-") and arg != "-":
            return None
        else:
            positionals.append(arg)
    if not positionals:
        return None
    return positionals[0], positionals[1:], socket, as_json


def _run_fast(args: list[str]) -> int | None:
    if any(name.endswith("_COMPLETE") for name in os.environ):
        return None  # shell completion is typer's job
    parsed = _parse_fast(args)
    if parsed is None:
        return None
    command, positionals, socket, as_json = parsed
    from . import commands

    if command in commands.SIMPLE_COMMANDS and not positionals:
        return commands.run_simple(command, socket=socket, as_json=as_json)
    if command == "call" and 1 <= len(positionals) <= 2:
        params = positionals[1] if len(positionals) == 2 else None
        return commands.run_call(positionals[0], params, socket=socket, as_json=as_json)
    return None


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
