"""The fast path (``voicectl.__main__``) accepts what the typer app (``voicectl.cli``) accepts.

The fast path describes its commands in tables (OPTIONS, COMMANDS) so that it need not
import typer; these tests walk the real typer app, its registered commands and the
parameters typer builds from them, and hold the tables against it. A command or an
option added, renamed or retyped on one side only fails here.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from typing import Any

import pytest
import typer.main
from typer.core import TyperGroup

from voicectl import cli
from voicectl.__main__ import COMMANDS, MANY, OPTIONS, SHARED_OPTIONS, _parse_fast
from voicectl.request_commands import TALK_ACTIONS

TYPER_ONLY = {"config", "doctor"}
"""Commands left to typer: they import pydantic and voiced anyway, so the fast path would win nothing."""

SAMPLE_VALUES: dict[type, str] = {str: "x", int: "2", float: "1.5"}


def typer_commands() -> dict[str, Any]:
    """The app's commands, by name, as typer builds them for parsing (config is a group)."""
    group = typer.main.get_command(cli.app)
    assert isinstance(group, TyperGroup)
    return dict(group.commands)


def callbacks() -> dict[str, Callable[..., Any]]:
    """The functions registered as the app's top-level commands, by command name."""
    return {
        info.name or typer.main.get_command_name(info.callback.__name__): info.callback
        for info in cli.app.registered_commands
        if info.callback is not None
    }


def value_type(callback: Callable[..., Any], parameter: str) -> Any:
    """The type a command's parameter converts its text to: ``float | None`` is float."""
    hint = typing.get_type_hints(callback)[parameter]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return typing.get_origin(hint) or hint


def options_of(command: Any) -> dict[str, str]:
    """A typer command's (or the app's) options: every spelling -> its parameter name."""
    return {
        spelling: param.name
        for param in command.params
        if param.param_type_name == "option"
        for spelling in [*param.opts, *param.secondary_opts]
    }


def spellings(parameters: frozenset[str]) -> dict[str, str]:
    """The fast path's options for these parameters: every spelling -> its parameter name."""
    return {spelling: name for spelling, (name, _) in OPTIONS.items() if name in parameters}


def test_every_typer_command_is_on_the_fast_path_or_left_to_typer_on_purpose() -> None:
    assert set(callbacks()) <= set(typer_commands())  # typer built a command of every function
    assert not TYPER_ONLY & set(COMMANDS)
    assert set(typer_commands()) == set(COMMANDS) | TYPER_ONLY


def test_the_shared_options_are_the_apps_own() -> None:
    # Given before the command, --json and --socket go to the app's callback (typer adds
    # its --install-completion and --show-completion there too: never the fast path's).
    assert cli.app.registered_callback is not None and cli.app.registered_callback.callback is not None
    own = set(typing.get_type_hints(cli.app.registered_callback.callback)) - {"ctx", "return"}
    app_options = options_of(typer.main.get_command(cli.app))
    shared = {spelling: name for spelling, name in app_options.items() if name in own}
    assert shared == spellings(SHARED_OPTIONS)
    assert (set(app_options) - set(shared)).isdisjoint(OPTIONS)


def test_every_fast_option_belongs_to_a_fast_command() -> None:
    taken = set(SHARED_OPTIONS).union(*(takes.options for takes in COMMANDS.values()))
    assert {name for name, _ in OPTIONS.values()} == taken


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_fast_command_takes_the_options_typer_gives_it(name: str) -> None:
    command = typer_commands()[name]
    takes = COMMANDS[name]
    assert spellings(takes.options | SHARED_OPTIONS) == options_of(command)
    for param in command.params:
        if param.param_type_name != "option":
            continue
        kind = OPTIONS[param.opts[0]][1]
        assert (kind is bool) == param.is_flag, param.name
        assert kind is value_type(callbacks()[name], param.name), param.name
    assert takes.required == {p.name for p in command.params if p.param_type_name == "option" and p.required}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_fast_command_takes_as_many_positionals_as_typer(name: str) -> None:
    arguments = [param for param in typer_commands()[name].params if param.param_type_name == "argument"]
    fewest = sum(1 for argument in arguments if argument.required)
    most = MANY if any(argument.nargs == -1 for argument in arguments) else sum(a.nargs for a in arguments)
    assert (COMMANDS[name].fewest, COMMANDS[name].most) == (fewest, most)


def test_talk_takes_the_actions_typer_offers() -> None:
    action = value_type(callbacks()["talk"], "action")
    assert issubclass(action, enum.Enum)
    assert tuple(member.value for member in action) == TALK_ACTIONS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_fast_parser_follows_the_tables(name: str) -> None:
    # A command line using every spelling typer knows for the command, with the fewest
    # positionals: the fast path runs it; one positional too many goes to typer.
    command = typer_commands()[name]
    args = [name, *["x"] * COMMANDS[name].fewest]
    for spelling, param in options_of(command).items():
        kind = value_type(callbacks()[name], param)
        args += [spelling] if kind is bool else [spelling, SAMPLE_VALUES[kind]]
    parsed = _parse_fast(args)
    assert parsed is not None, args
    assert parsed[0] == name
    assert set(parsed[2]) | set(parsed[3]) == set(options_of(command).values())
    if COMMANDS[name].most != MANY:
        assert _parse_fast([*args, *["x"] * (COMMANDS[name].most - COMMANDS[name].fewest + 1)]) is None
