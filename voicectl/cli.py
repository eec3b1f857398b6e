"""The typer app: help, shell completion and every command, for people at a shell.

The fast path in ``__main__`` answers the common commands without importing this;
both call the same functions in ``voicectl.commands``, so they behave the same.
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import commands

app = typer.Typer(
    name="voicectl",
    help="Control voiced, the voice assistant daemon, over its control socket.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

SocketOption = Annotated[
    str | None,
    typer.Option(
        "--socket",
        metavar="PATH",
        help="Control socket (else $VOICED_SOCKET, the config's control.socket, "
        "$XDG_RUNTIME_DIR/voiced/control.sock).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the raw result as JSON.")]


class _Finished(Exception):
    """Carries a command's exit code past typer, whose own exit 2 means bad usage."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@app.callback()
def _options(ctx: typer.Context, socket: SocketOption = None, as_json: JsonOption = False) -> None:
    ctx.obj = {"socket": socket, "as_json": as_json}


def _simple(ctx: typer.Context, command: str, socket: str | None, as_json: bool) -> None:
    shared = ctx.obj or {}
    raise _Finished(
        commands.run_simple(
            command,
            socket=socket or shared.get("socket"),
            as_json=as_json or shared.get("as_json", False),
        )
    )


@app.command()
def status(ctx: typer.Context, socket: SocketOption = None, as_json: JsonOption = False) -> None:
    """Show what voiced is doing (exit 3 when it is not running)."""
    _simple(ctx, "status", socket, as_json)


@app.command()
def pause(ctx: typer.Context, socket: SocketOption = None, as_json: JsonOption = False) -> None:
    """Stop listening and speaking until resume."""
    _simple(ctx, "pause", socket, as_json)


@app.command()
def resume(ctx: typer.Context, socket: SocketOption = None, as_json: JsonOption = False) -> None:
    """Listen again after pause."""
    _simple(ctx, "resume", socket, as_json)


@app.command()
def interrupt(ctx: typer.Context, socket: SocketOption = None, as_json: JsonOption = False) -> None:
    """Cut the assistant off mid-answer."""
    _simple(ctx, "interrupt", socket, as_json)


@app.command()
def devices(ctx: typer.Context, socket: SocketOption = None, as_json: JsonOption = False) -> None:
    """List the audio devices voiced can use."""
    _simple(ctx, "devices", socket, as_json)


@app.command()
def shutdown(ctx: typer.Context, socket: SocketOption = None, as_json: JsonOption = False) -> None:
    """Stop voiced."""
    _simple(ctx, "shutdown", socket, as_json)


@app.command()
def call(
    ctx: typer.Context,
    method: Annotated[str, typer.Argument(help="Method name, e.g. say or NAME.method.")],
    params: Annotated[str | None, typer.Argument(help='Params as JSON, e.g. \'{"text": "hi"}\'.')] = None,
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Call any control-socket method and print its result as JSON."""
    shared = ctx.obj or {}
    raise _Finished(
        commands.run_call(
            method,
            params,
            socket=socket or shared.get("socket"),
            as_json=as_json or shared.get("as_json", False),
        )
    )


def run_typer(args: list[str]) -> int:
    """Run the typer app on ``args``; returns the exit code (bad usage is 1, not click's 2)."""
    try:
        app(args, prog_name="voicectl")
    except _Finished as finished:
        return finished.code
    except SystemExit as exit_:
        code = exit_.code
        if code is None:
            return 0
        if not isinstance(code, int):
            return 1
        return commands.UNREACHABLE_OR_USAGE if code == 2 else code
    return 0
