"""Run a command for matching events, with the event as JSON on its standard input.

    [plugins.exec_hooks]
    "user.transcript.completed" = "notify-send voiced"   # an event type ...
    "assistant" = ["logger", "-t", "voiced"]             # ... or a prefix of event types
    timeout_s = 10                                       # then the command is killed

The command line is split like a shell would (shlex) but no shell runs it, and the
event only ever reaches the command on its stdin: nothing said can become a command.
Each command runs in a thread of its own, at most `max_running` at a time (more are
skipped and logged), so a slow one never holds up the events behind it.
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import threading

from pydantic import BaseModel, ConfigDict, Field, model_validator

from voiced import hookimpl
from voiced.bus import Event

log = logging.getLogger("voiced.plugins.exec_hooks")


class Config(BaseModel):
    """Every key but the settings below is an event type (or prefix) naming a command."""

    model_config = ConfigDict(extra="allow")

    timeout_s: float = Field(default=10.0, gt=0)
    max_running: int = Field(default=8, ge=1)

    @model_validator(mode="after")
    def _commands_are_argv(self) -> Config:
        extra = self.model_extra or {}  # the commands, by pattern
        for pattern, command in extra.items():
            argv = shlex.split(command) if isinstance(command, str) else command
            if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
                raise ValueError(f"{pattern}: a command line or a list of strings, not {command!r}")
            extra[pattern] = argv
        return self

    @property
    def commands(self) -> dict[str, list[str]]:
        return dict(self.model_extra or {})


config = Config()
_running = threading.BoundedSemaphore(config.max_running)


def commands_for(event_type: str) -> list[list[str]]:
    return [argv for pattern, argv in config.commands.items()
            if event_type == pattern or event_type.startswith(pattern + ".")]


def run(argv: list[str], stdin: bytes, timeout_s: float) -> None:
    """Run one command to the end (killed after `timeout_s`); failures are logged."""
    try:
        done = subprocess.run(argv, input=stdin, timeout=timeout_s, capture_output=True, check=False)
    except subprocess.TimeoutExpired:
        log.warning("exec_hooks: %s killed after %g s", argv[0], timeout_s)
    except OSError as exc:
        log.warning("exec_hooks: cannot run %s: %s", argv[0], exc)
    else:
        if done.returncode != 0:
            log.warning("exec_hooks: %s exited with %d: %s", argv[0], done.returncode,
                        done.stderr.decode(errors="replace").strip()[:200])
    finally:
        _running.release()


@hookimpl
def voiced_startup() -> None:
    global _running
    _running = threading.BoundedSemaphore(config.max_running)


@hookimpl
def voiced_event(event: Event) -> None:
    matching = commands_for(event.type)
    if not matching:
        return
    stdin = json.dumps({"type": event.type, "ts": event.ts, "data": event.data}, default=str).encode()
    for argv in matching:
        if not _running.acquire(blocking=False):
            log.warning("exec_hooks: %d commands still running; skipped %s for %s",
                        config.max_running, argv[0], event.type)
            continue
        threading.Thread(target=run, args=(argv, stdin, config.timeout_s),
                         name=f"exec_hooks {argv[0]}", daemon=True).start()
