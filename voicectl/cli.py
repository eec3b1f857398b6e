"""The typer app: help, shell completion and every command, for people at a shell.

The fast path in ``__main__`` answers the common commands without importing this;
both call the same functions in ``voicectl.request_commands``, so they behave the same.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

import typer

from . import events as stream
from . import request_commands
from .events import STATES

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
        "$XDG_RUNTIME_DIR/voiced/control.sock, or $TMPDIR/voiced-UID/control.sock when that "
        "folder is not private to you).",
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


def _shared(ctx: typer.Context, socket: str | None, as_json: bool) -> dict[str, Any]:
    """The --socket and --json options, given before or after the command."""
    shared = ctx.obj or {}
    return {"socket": socket or shared.get("socket"), "as_json": as_json or shared.get("as_json", False)}


def _add_simple(name: str, help_text: str) -> None:
    """Register one of SIMPLE_COMMANDS (status, pause...), all alike but for the name and help."""

    def command(ctx: typer.Context, socket: SocketOption = None, as_json: JsonOption = False) -> None:
        raise _Finished(request_commands.run_simple(name, **_shared(ctx, socket, as_json)))

    app.command(name, help=help_text)(command)


# From the table the fast path runs them by, so the two cannot list different ones.
for _name, (_show, _help_text) in request_commands.SIMPLE_COMMANDS.items():
    _add_simple(_name, _help_text)


@app.command()
def say(
    ctx: typer.Context,
    text: Annotated[list[str], typer.Argument(help="What to say; the words are joined with spaces.")],
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a typed user turn; the assistant answers it aloud."""
    raise _Finished(request_commands.run_say(text, **_shared(ctx, socket, as_json)))


@app.command()
def announce(
    ctx: typer.Context,
    text: Annotated[list[str], typer.Argument(help="What the assistant says (words joined with spaces).")],
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """The assistant says the text as given (from standby it wakes for it, then sleeps again)."""
    raise _Finished(request_commands.run_announce(text, **_shared(ctx, socket, as_json)))


@app.command()
def volume(
    ctx: typer.Context,
    level: Annotated[int | None, typer.Argument(min=0, max=100, help="Set the output volume, 0-100.")] = None,
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the output volume (0-100), or set it; it is kept over restarts."""
    raise _Finished(request_commands.run_volume(level, **_shared(ctx, socket, as_json)))


class TalkAction(str, enum.Enum):
    start = "start"
    stop = "stop"


@app.command()
def talk(
    ctx: typer.Context,
    action: Annotated[TalkAction | None, typer.Argument(help="start or stop a spoken turn.")] = None,
    seconds: Annotated[
        float | None,
        typer.Option(
            "--for", metavar="SECONDS", min=0, help="Start a turn that ends by itself after SECONDS."
        ),
    ] = None,
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Push-to-talk (needs turn_detection = "manual"). Without arguments: talk until Enter."""
    raise _Finished(
        request_commands.run_talk(action.value if action else None, seconds, **_shared(ctx, socket, as_json))
    )


@app.command()
def history(
    ctx: typer.Context,
    query: Annotated[list[str] | None, typer.Argument(help="Only turns that match these words.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", metavar="N", min=1, help="At most N turns.")] = None,
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search past conversations (the history plugin)."""
    raise _Finished(request_commands.run_history(query or [], limit, **_shared(ctx, socket, as_json)))


@app.command()
def events(
    ctx: typer.Context,
    topics: Annotated[
        list[str] | None,
        typer.Argument(help="Event types or their dotted prefixes, e.g. state or assistant.transcript."),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing events as they happen.")
    ] = False,
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print where things stand; with --follow, every event (one line each) until Ctrl-C.

    With --json: one JSON object a line, the snapshot first, then each event's
    {seq, ts, type, data}.
    """
    raise _Finished(stream.run_events(topics or [], follow=follow, **_shared(ctx, socket, as_json)))


@app.command()
def wait(
    ctx: typer.Context,
    state: Annotated[
        str,
        typer.Option(
            "--state",
            metavar="STATE",
            help="The state to wait for: " + ", ".join(STATES) + ".",
            autocompletion=lambda: list(STATES),
        ),
    ],
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", metavar="SECONDS", min=0, help="Give up (exit 1) after this long."),
    ] = None,
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Wait until voiced is in STATE (exit 0), or until the timeout (exit 1)."""
    raise _Finished(stream.run_wait(state, timeout, **_shared(ctx, socket, as_json)))


@app.command()
def attach(ctx: typer.Context, socket: SocketOption = None, as_json: JsonOption = False) -> None:
    """The live view: state, transcripts as they stream, and a prompt (/help inside)."""
    from .attach import run_attach

    raise _Finished(run_attach(**_shared(ctx, socket, False)))


@app.command()
def call(
    ctx: typer.Context,
    method: Annotated[str, typer.Argument(help="Method name, e.g. say or NAME.method.")],
    params: Annotated[str | None, typer.Argument(help='Params as JSON, e.g. \'{"text": "hi"}\'.')] = None,
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Call any control-socket method and print its result as JSON."""
    raise _Finished(request_commands.run_call(method, params, **_shared(ctx, socket, as_json)))


config_app = typer.Typer(
    help="The config file voiced reads: where it is, what it adds up to, a starter, one key at a time.",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")


@config_app.command("path")
def config_path(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print the config file's path ($VOICED_CONFIG, else ~/.config/voiced/config.toml).

    When it does not exist yet, a note on stderr says so; --json: {path, exists, from}.
    """
    from . import config

    raise _Finished(config.run_path(**_json_only(ctx, as_json)))


@config_app.command("show")
def config_show(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print the configuration voiced would start with, as TOML, secrets masked.

    Merged as voiced merges it: defaults < config.toml < .env (in the current folder) <
    VOICED_* and OPENAI_API_KEY in the environment. A broken config: one line, exit 1.
    """
    from . import config

    raise _Finished(config.run_show(**_json_only(ctx, as_json)))


@config_app.command("init")
def config_init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing config file.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Write a commented starter config (every key, its default, a note on each), mode 0600.

    An existing file is left alone unless --force.
    """
    from . import config

    raise _Finished(config.run_init(force=force, **_json_only(ctx, as_json)))


@config_app.command("set", context_settings={"ignore_unknown_options": True})  # a value may be -1
def config_set(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="A dotted key: audio.input_device, plugins.goodbye.action.")],
    value: Annotated[
        str, typer.Argument(help="A TOML value (20, true, [\"a\"], \"3\") or else taken as text.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Set one key in the config file, checked against voiced's settings before writing.

    Examples: voicectl config set audio.input_device usb; voicectl config set listen.mode wake;
    voicectl config set plugins.goodbye.action pause; voicectl config set api.key -

    A value that does not fit leaves the file unchanged (exit 1). The file is rewritten
    from its values, mode 0600: comments and layout are not kept. A running voiced is not
    told: reload it (systemctl --user reload voiced, or kill -HUP its pid).
    """
    from . import config

    raise _Finished(config.run_set(key, value, **_json_only(ctx, as_json)))


def _json_only(ctx: typer.Context, as_json: bool) -> dict[str, Any]:
    return {"as_json": _shared(ctx, None, as_json)["as_json"]}


@app.command()
def doctor(ctx: typer.Context, socket: SocketOption = None, as_json: JsonOption = False) -> None:
    """Check that voiced can work here: config, key, daemon, sound, devices, network, plugins.

    One line a check (ok or FAIL) with what to do about each failure; exit 0 when all
    pass, 1 otherwise. The key is never shown whole nor sent anywhere.
    """
    from .doctor import run_doctor

    raise _Finished(run_doctor(**_shared(ctx, socket, as_json)))


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
        return request_commands.UNREACHABLE_OR_USAGE if code == 2 else code
    return 0
