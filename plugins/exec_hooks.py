"""Run a command for matching events, with the event as JSON on its standard input.

    [plugins.exec_hooks]
    "user.transcript.completed" = "notify-send voiced"   # an event type ...
    "assistant" = ["logger", "-t", "voiced"]             # ... or a prefix of event types
    timeout_s = 10                                       # then the command is killed

The command line is split like a shell would (shlex) but no shell runs it, and the
event only ever reaches the command on its stdin: nothing said can become a command.
Each command runs in a thread of its own, at most `max_running` at a time (more are
skipped and logged), so a slow one never holds up the events behind it.

A command gets the daemon's environment without the API key, and a process group of its
own: on a timeout, or when the plugins stop or reload, the group is killed with all the
command started. Its stdout is discarded; the end of its stderr is logged if it fails.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from voiced import hookimpl
from voiced.bus import Event
from voiced.config import secret_values
from voiced.plugin_host import DaemonAPI

log = logging.getLogger("voiced.plugins.exec_hooks")

KEY_VARIABLES = frozenset({"OPENAI_API_KEY", "VOICED_API__KEY"})
"""Variables that hold the key, left out of a command's environment whatever their value."""
STDERR_KEPT = 4096
"""The end of a command's stderr kept for the log; the rest is read and dropped."""
READ_SIZE = 65536


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


def child_environment(secrets: Iterable[str] = ()) -> dict[str, str]:
    """The daemon's environment without the key: neither the variables named for it nor any
    variable holding a secret (as its value, or within it for a secret of 8 characters or more)."""
    known = {value for name, value in os.environ.items() if name.upper() in KEY_VARIABLES}
    hidden = {secret for secret in (*secrets, *known) if secret}

    def holds_one(value: str) -> bool:
        return any(value == secret or (len(secret) >= 8 and secret in value) for secret in hidden)

    return {name: value for name, value in os.environ.items()
            if name.upper() not in KEY_VARIABLES and not holds_one(value)}


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # every process of the group has ended
        os.killpg(pgid, signal.SIGKILL)


def _exchange(process: subprocess.Popen[bytes], stdin: bytes, timeout_s: float) -> bytes | None:
    """Feed the command `stdin` and drain its stderr until it has exited and its stderr is
    closed, `timeout_s` at most; the last `STDERR_KEPT` bytes of stderr, or None on a timeout.

    The command is not reaped, so its pid (its group's id) cannot be reused before the caller
    has killed the group or forgotten it."""
    assert process.stdin is not None and process.stderr is not None  # both are pipes
    deadline = time.monotonic() + timeout_s
    pending = memoryview(stdin)
    kept = bytearray()
    exited = os.pidfd_open(process.pid)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(exited, selectors.EVENT_READ)
            selector.register(process.stderr, selectors.EVENT_READ)
            os.set_blocking(process.stdin.fileno(), False)
            selector.register(process.stdin, selectors.EVENT_WRITE)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                for key, _ in selector.select(left):
                    if key.fd == exited:
                        selector.unregister(exited)
                    elif key.fileobj is process.stderr:
                        chunk = os.read(key.fd, READ_SIZE)
                        kept += chunk
                        del kept[:-STDERR_KEPT]
                        if not chunk:
                            selector.unregister(process.stderr)
                    else:
                        try:
                            pending = pending[os.write(key.fd, pending[:READ_SIZE]):]
                        except BlockingIOError:
                            continue
                        except BrokenPipeError:  # it does not read its input: that is its business
                            pending = pending[:0]
                        if not pending:
                            selector.unregister(process.stdin)
                            process.stdin.close()
    finally:
        os.close(exited)
    return bytes(kept)


class Commands:
    """The commands of one configuration: at most `max_running` at once, each in a thread and
    a process group of its own. A command gives back the slot it took here, so a reload (the
    next `Commands`) never upsets a command still running."""

    def __init__(self, max_running: int, timeout_s: float, secrets: Iterable[str] = ()) -> None:
        self.max_running = max_running
        self.timeout_s = timeout_s
        self._secrets = frozenset(secrets)
        self._slots = threading.BoundedSemaphore(max_running)
        self._lock = threading.Lock()
        self._groups: set[int] = set()
        """Process groups of the commands running (each is its command's pid)."""
        self._stopped = False

    def start(self, argv: list[str], stdin: bytes, why: str) -> None:
        """Run `argv` in a thread of its own, unless `max_running` commands still run (then it
        is skipped, and that is logged with `why`, the event type) or `stop` was called."""
        if self._stopped:
            return
        if not self._slots.acquire(blocking=False):
            log.warning("exec_hooks: %d commands still running; skipped %s for %s",
                        self.max_running, argv[0], why)
            return
        try:
            threading.Thread(target=self._run_in_slot, args=(argv, stdin),
                             name=f"exec_hooks {argv[0]}", daemon=True).start()
        except RuntimeError as exc:  # no thread to be had
            self._slots.release()
            log.warning("exec_hooks: cannot run %s for %s: %s", argv[0], why, exc)

    def run(self, argv: list[str], stdin: bytes) -> None:
        """Run one command to the end, its group killed after `timeout_s` (or by `stop`); a
        failure is logged with the end of its stderr."""
        try:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, env=child_environment(self._secrets),
                                       start_new_session=True)
        except OSError as exc:
            log.warning("exec_hooks: cannot run %s: %s", argv[0], exc)
            return
        stderr: bytes | None = None
        with process:  # closes the pipes and reaps the command on the way out
            with self._lock:
                self._groups.add(process.pid)
                if self._stopped:
                    _kill_group(process.pid)
            try:
                stderr = _exchange(process, stdin, self.timeout_s)
            finally:
                with self._lock:
                    self._groups.discard(process.pid)
                    if stderr is None:  # out of time (or broken): nothing it started lives on
                        _kill_group(process.pid)
        if stderr is None:
            log.warning("exec_hooks: %s killed after %g s, with all it started", argv[0], self.timeout_s)
        elif self._stopped and process.returncode == -signal.SIGKILL:
            log.info("exec_hooks: %s stopped with the plugins", argv[0])
        elif process.returncode != 0:
            log.warning("exec_hooks: %s exited with %d: %s", argv[0], process.returncode,
                        " ".join(stderr.decode(errors="replace").split())[-300:])

    def stop(self) -> None:
        """Kill every command still running, with all it started; start no more."""
        with self._lock:
            self._stopped = True
            for pgid in self._groups:
                _kill_group(pgid)

    def _run_in_slot(self, argv: list[str], stdin: bytes) -> None:
        try:
            self.run(argv, stdin)
        except Exception:
            log.exception("exec_hooks: running %s failed", argv[0])
        finally:
            self._slots.release()


config = Config()
_commands = Commands(config.max_running, config.timeout_s)


def commands_for(event_type: str) -> list[list[str]]:
    return [argv for pattern, argv in config.commands.items()
            if event_type == pattern or event_type.startswith(pattern + ".")]


@hookimpl
def voiced_startup(daemon: DaemonAPI) -> None:
    global _commands
    _commands = Commands(config.max_running, config.timeout_s, secret_values(daemon.settings))


@hookimpl
def voiced_shutdown() -> None:
    _commands.stop()


@hookimpl
def voiced_event(event: Event) -> None:
    matching = commands_for(event.type)
    if not matching:
        return
    commands = _commands
    stdin = json.dumps({"type": event.type, "ts": event.ts, "data": event.data}, default=str).encode()
    for argv in matching:
        commands.start(argv, stdin, event.type)
