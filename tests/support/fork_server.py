"""The fork server behind `tests.support.forking`, run as a script (standard library only
until it imports what it preloads).

`python fork_server.py serve PATH` listens on the Unix socket PATH, imports our commands
once, then forks a child per request that becomes the command asked for: a console script
of this environment or a script (`runpy.run_path`), or a `python -m` module
(`runpy.run_module`), with the requester's arguments, environment, working folder and
standard streams, and a fresh interpreter's standard streams and random seeds. The test
processes of a run share one server; it ends a few seconds after the last of them has
hung up.

`python fork_server.py via PATH COMMAND...` is COMMAND for a program that starts it
itself (voiced starting a test MCP server): it has the server fork COMMAND on its own
standard streams, passes signals on to it and ends as it ends; it runs COMMAND itself when
the server cannot.

A connection is a ``SOCK_SEQPACKET`` socket: the server first says which start-up
variables it was started with; a request is a JSON object with the child's stdin, stdout,
stderr and a status pipe attached; the answer is the child's pid with a pidfd attached.
The server reaps its children and writes each one's exit status, as `Popen.returncode`
gives it, into its status pipe.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import gc
import io
import json
import os
import select
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import IO, Any

PRELOAD = ("voiced.__main__", "voiced.daemon.wiring", "voicectl.__main__", "voicectl.cli",
           "voiced.simulator.__main__", "voiced.simulator.validation", "mcp.server.mcpserver")
"""What the server imports before it forks (what each of our commands imports first)."""
GRACE_S = 3.0
"""How long the server waits for a new connection once nobody is connected."""
BIN = Path(sys.executable).parent


def plan(args: list[str]) -> dict[str, Any] | None:
    """How a forked child runs `args`, or None if it cannot: a console script of this
    environment, `python SCRIPT.py ...` or `python -m MODULE ...`."""
    if not args:
        return None
    if args[0] == sys.executable and len(args) >= 3 and args[1] == "-m":
        return {"module": args[2], "argv": [args[2], *args[3:]]}
    if args[0] == sys.executable and len(args) >= 2 and args[1].endswith(".py"):
        return {"script": args[1], "argv": args[1:]}
    script = Path(args[0])
    if script.parent == BIN and script.is_file():
        with script.open("rb") as file:
            if file.readline().strip() == f"#!{sys.executable}".encode():
                return {"script": str(script), "argv": args}
    return None


APPLIED = frozenset({"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"})
"""Start-up variables a forked child applies itself."""


def start_up(env: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """What of `env` an interpreter reads as it starts (or its libraries as they load): a
    child whose environment says otherwise than the server's must start for real. The
    locale counts by what Python makes of it (C and POSIX are C.UTF-8, PEP 538)."""
    found = {k: v for k, v in env.items() if k.startswith(("PYTHON", "LD_")) and k not in APPLIED}
    locale = next((env[k] for k in ("LC_ALL", "LC_CTYPE", "LANG") if env.get(k)), "C")
    found["locale"] = "C.UTF-8" if locale in ("C", "POSIX", "C.utf8") else locale
    return found


# -- the server ---------------------------------------------------------------------------

def serve(path: Path) -> dict[str, Any] | None:
    """Listen at `path`, import, then fork a child per request until nobody has been
    connected for `GRACE_S`. Returns in a child only, with what it is to become."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(path))
    listener.listen(64)
    del sys.path[0]  # this script's folder: its neighbours are no one's modules
    _preload()
    hello = json.dumps({"start_up": start_up(os.environ)}).encode()
    connections: list[socket.socket] = []
    statuses: dict[int, int] = {}  # child pid -> the write end of its status pipe
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    while True:
        ready = select.select([listener, wake_read, *connections], [], [],
                              None if connections else GRACE_S)[0]
        if not ready and _may_end(path, listener):
            return None
        if wake_read in ready:
            os.read(wake_read, 4096)
            _reap(statuses)
        if listener in ready:
            connection = listener.accept()[0]
            with contextlib.suppress(OSError):  # a client gone at once is dropped below
                connection.send(hello)
            connections.append(connection)
        for connection in [c for c in ready if c in connections]:
            message, fds = b"", []
            try:
                message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 4)
                if not message or len(fds) != 4:
                    raise ValueError("a connection ended, or sent no streams")
                pid = os.fork()
            except (OSError, ValueError) as error:  # that client's loss, not the run's
                if message:
                    print(f"fork server: dropping a client: {error}", file=sys.stderr)
                for fd in fds:
                    os.close(fd)
                connections.remove(connection)
                connection.close()
                continue
            if pid == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                for fd in (wake_read, wake_write, *statuses.values()):
                    os.close(fd)
                for sock in (listener, *connections):
                    sock.close()
                return {**json.loads(message), "fds": fds}
            statuses[pid] = fds[3]
            pidfd = os.pidfd_open(pid)
            with contextlib.suppress(OSError):  # the client is gone: its child runs on, reaped
                socket.send_fds(connection, [str(pid).encode()], [pidfd])
            for fd in (pidfd, *fds[:3]):
                os.close(fd)


def _preload() -> None:
    import importlib

    for module in PRELOAD:
        with contextlib.suppress(Exception):  # a child that needs it fails for itself
            importlib.import_module(module)
    with contextlib.suppress(Exception):
        from voiced.simulator.validation import StrictValidator

        StrictValidator()  # imports what --strict validates against
    gc.freeze()  # what is imported stays out of the children's collections: no copying it


def _may_end(path: Path, listener: socket.socket) -> bool:
    """Whether the server, idle, may end: not if a client connected meanwhile (clients
    connect holding the folder's lock, so that a connection is never left unanswered)."""
    with (path.parent / "lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if select.select([listener], [], [], 0)[0]:
            return False
        for name in ("server.sock", "lock"):
            path.with_name(name).unlink(missing_ok=True)
        log = path.with_name("server.log")
        if log.exists() and not log.stat().st_size:
            log.unlink()
        with contextlib.suppress(OSError):  # not empty: the log says why the server failed
            path.parent.rmdir()
        return True


def _reap(statuses: dict[int, int]) -> None:
    """Collect the children that have exited and tell each one's requester how it ended."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        if (fd := statuses.pop(pid, None)) is not None:
            with contextlib.suppress(OSError):
                os.write(fd, str(os.waitstatus_to_exitcode(status)).encode())
            os.close(fd)


# -- a forked child -----------------------------------------------------------------------

_old_streams: list[IO[Any]] = []


def become(request: dict[str, Any]) -> None:
    """In the forked child: become the command the request describes, as a fresh
    interpreter would run it."""
    import runpy

    for target, fd in enumerate(request["fds"][:3]):
        os.dup2(fd, target)
        os.close(fd)
    os.close(request["fds"][3])  # the server's end to tell its status: not the child's
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    _fresh_interpreter_state(request["env"])
    sys.argv = list(request["argv"])
    if "module" in request:
        for name in (request["module"], f"{request['module']}.__main__"):  # as `-m` finds them:
            if not hasattr(sys.modules.get(name), "__path__"):  # run afresh, not imported
                sys.modules.pop(name, None)
        sys.path.insert(0, request["cwd"])
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    else:
        sys.path.insert(0, str(Path(request["script"]).resolve().parent))
        runpy.run_path(request["script"], run_name="__main__")


def _fresh_interpreter_state(env: dict[str, str]) -> None:
    """Standard streams and flags as an interpreter starting in `env` has them. (`random`
    reseeds itself in a forked child; numpy's would not, and the server does not import it:
    tests/support/test_forking.py checks both.)"""
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    old = (sys.stdin, sys.stdout, sys.stderr)  # encodings as the same start-up made them
    _old_streams.extend(old)  # they must not close 0, 1, 2
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "rb", closefd=False)),
                                                 encoding=old[0].encoding, errors=old[0].errors)
    sys.stdout = sys.__stdout__ = _writer(1, unbuffered, old[1], line=os.isatty(1))
    sys.stderr = sys.__stderr__ = _writer(2, unbuffered, old[2], line=True)
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))


def _writer(fd: int, unbuffered: bool, like: IO[Any], *, line: bool) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "wb", closefd=False)
    binary: Any = raw if unbuffered else io.BufferedWriter(raw)
    return io.TextIOWrapper(binary, encoding=like.encoding, errors=like.errors, line_buffering=line,
                            write_through=unbuffered)


def end(request: dict[str, Any]) -> None:
    """Run the child's command, then end as the interpreter would (threads joined, atexit
    handlers run, streams flushed, the exit code, a traceback, death by SIGINT for a
    KeyboardInterrupt), but without tearing down the modules: that would touch, and so
    copy, every page the server shares with it (0.15 s of CPU a child)."""
    code, interrupted = 0, False
    try:
        become(request)
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except BaseException as error:
        sys.excepthook(type(error), error, error.__traceback__)
        code, interrupted = 1, isinstance(error, KeyboardInterrupt)
    threading._shutdown()  # type: ignore[attr-defined]  # what the interpreter calls first
    atexit._run_exitfuncs()
    gc.collect()  # the child's own garbage, with its finalizers
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


# -- via: a command started by someone else -----------------------------------------------

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def via(path: str, args: list[str]) -> None:
    """Be `args`, forked by the server at `path`: signals go on to it, its exit is ours."""
    try:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        connection.connect(path)
        hello = json.loads(connection.recv(1 << 16))
    except (OSError, ValueError):
        hello = None
    how = plan(args)
    if hello is None or how is None or start_up(os.environ) != hello["start_up"]:
        os.execv(args[0], args)
    status_read, status_write = os.pipe()
    request = {**how, "env": dict(os.environ), "cwd": os.getcwd()}
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)  # none is lost before it can be passed on
    socket.send_fds(connection, [json.dumps(request).encode()], [0, 1, 2, status_write])
    _, fds, _, _ = socket.recv_fds(connection, 64, 1)
    os.close(status_write)
    pidfd = fds[0]
    for signum in FORWARDED:
        signal.signal(signum, lambda signum, _: _pass_on(pidfd, signum))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the child has them; hold no pipe end of its
        os.dup2(quiet, fd)
    while not select.select([status_read], [], [])[0]:
        pass
    code = int(os.read(status_read, 64) or b"255")
    if code < 0:  # killed by a signal: so are we
        if -code not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


def _pass_on(pidfd: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        signal.pidfd_send_signal(pidfd, signum)


if __name__ == "__main__":
    if sys.argv[1] == "via":
        via(sys.argv[2], sys.argv[3:])
    elif (job := serve(Path(sys.argv[2]))) is not None:
        end(job)
