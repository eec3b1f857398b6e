"""Our own commands (voiced, voicectl, the simulator) forked from a process that has
already imported them.

Most of a voiced, voicectl or simulator start is importing (a third to a half of a
second of CPU each: pydantic, typer, trio, numpy, openai's types), and the suite starts
hundreds of them. So each test process starts one fork server (this file, run as a
script), which imports them once, then forks a child per request that becomes the
command the test asked for: the same console script (`runpy.run_path`) or `python -m`
module (`runpy.run_module`) with the test's arguments, environment, working folder and
standard streams, and a fresh interpreter's standard streams, random seeds and signal
dispositions, ending through the interpreter's own exit (atexit, flushing, exit code, a
traceback or a signal). What is left out is the interpreter's start and the imports.

`popen` and `run` stand in for `subprocess.Popen` and `subprocess.run`, for the parts the
tests use. What a fork cannot reproduce runs as a real process instead: a command that is
not ours, options such as `pass_fds` or `start_new_session`, and an environment whose
start-up variables (PYTHON*, LD_*, the locale) differ from the server's. Tests that look
at the process itself (/proc/PID/environ or maps, start-up imports) use `subprocess`.

The server talks over a ``SOCK_SEQPACKET`` socket pair: a request is a JSON object with
the child's stdin, stdout, stderr and a status pipe attached; the answer is the child's
pid with a pidfd attached, through which the test signals it (a pidfd cannot be fooled by
a reused pid). The server reaps its children and writes each one's exit status, as
`Popen.returncode` gives it, into its status pipe.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

PRELOAD = ("voiced.__main__", "voiced.daemon.wiring", "voicectl.__main__", "voicectl.cli",
           "voiced.simulator.__main__")
"""What the server imports before it forks (what each of our commands imports first)."""

_BIN = Path(sys.executable).parent
_server: tuple[subprocess.Popen[bytes], socket.socket, dict[str, str]] | None = None
_lock = threading.Lock()


def popen(argv: Sequence[str | os.PathLike[str]], *, env: Mapping[str, str] | None = None,
          cwd: str | os.PathLike[str] | None = None, stdin: Any = None, stdout: Any = None,
          stderr: Any = None, text: bool = False, **others: Any) -> ForkedProcess | subprocess.Popen[Any]:
    """`subprocess.Popen(argv, ...)`, forked from the server when it can be (see above)."""
    args = [os.fspath(arg) for arg in argv]
    environment = dict(os.environ if env is None else env)
    plan = None if others else _plan(args)
    if plan is None or not _same_start_up(environment, _start_server()[2]):
        return subprocess.Popen(args, env=environment, cwd=cwd, stdin=stdin, stdout=stdout,
                                stderr=stderr, text=text, **others)
    folder = os.fspath(cwd or os.getcwd())
    return ForkedProcess(plan, args, environment, folder, (stdin, stdout, stderr), text)


def run(argv: Sequence[str | os.PathLike[str]], *, input: str | bytes | None = None,
        capture_output: bool = False, timeout: float | None = None, check: bool = False,
        **options: Any) -> subprocess.CompletedProcess[Any]:
    """`subprocess.run(argv, ...)`, forked from the server when it can be."""
    if capture_output:
        options.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if input is not None:
        options["stdin"] = subprocess.PIPE
    process = popen(argv, **options)
    try:
        out, err = process.communicate(input, timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    result = subprocess.CompletedProcess(process.args, process.wait(), out, err)
    if check:
        result.check_returncode()
    return result


class ForkedProcess:
    """The parts of `subprocess.Popen` the tests use, for a child of the fork server."""

    def __init__(self, plan: dict[str, Any], args: list[str], env: dict[str, str], cwd: str,
                 streams: tuple[Any, Any, Any], text: bool) -> None:
        self.args = args
        self.returncode: int | None = None
        theirs, ours = [], []
        for index, wanted in enumerate(streams):
            child_end, parent_end = _stream(wanted, index, theirs)
            theirs.append(child_end)
            ours.append(parent_end)
        status_read, status_write = os.pipe()
        request = {**plan, "argv": args, "env": env, "cwd": cwd}
        try:
            control = _start_server()[1]
            with _lock:
                socket.send_fds(control, [json.dumps(request).encode()], [*theirs, status_write])
                reply, fds, _, _ = socket.recv_fds(control, 64, 1)
        finally:
            for fd in {*theirs, status_write}:
                os.close(fd)
        if not fds:
            raise AssertionError(f"the fork server did not fork {args}: {reply!r}")
        self.pid = int(reply)
        self._pidfd = fds[0]
        self._status = status_read
        self.stdin, self.stdout, self.stderr = (
            None if fd is None else _file(fd, "wb" if index == 0 else "rb", text)
            for index, fd in enumerate(ours))

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._status], [], [], 0)[0]:
            status = os.read(self._status, 64)
            self.returncode = int(status) if status else 255  # no status: the server died
            os.close(self._status)
            os.close(self._pidfd)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            select.select([self._status], [], [], left)
        return code

    def communicate(self, input: str | bytes | None = None,
                    timeout: float | None = None) -> tuple[Any, Any]:
        """Write `input`, read stdout and stderr to their ends, wait for the exit."""
        results: dict[int, Any] = {}

        def read(index: int, stream: IO[Any]) -> None:
            results[index] = stream.read()
            stream.close()

        readers = [threading.Thread(target=read, args=(index, stream), daemon=True)
                   for index, stream in enumerate((self.stdout, self.stderr)) if stream is not None]
        for reader in readers:
            reader.start()
        if self.stdin is not None:
            try:
                if input:
                    self.stdin.write(input)
                self.stdin.close()
            except BrokenPipeError:
                pass
        deadline = None if timeout is None else time.monotonic() + timeout
        for reader in readers:
            reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return results.get(0), results.get(1)

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            signal.pidfd_send_signal(self._pidfd, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _plan(args: list[str]) -> dict[str, Any] | None:
    """How the server runs `args`: a console script of this environment, or `python -m`."""
    if not args:
        return None
    if args[0] == sys.executable and len(args) >= 3 and args[1] == "-m":
        return {"module": args[2]}
    script = Path(args[0])
    if script.parent == _BIN and script.is_file():
        with script.open("rb") as file:
            if file.readline().strip() == f"#!{sys.executable}".encode():
                return {"script": str(script)}
    return None


START_UP = ("PYTHON", "LD_", "LANG", "LC_")
"""Variables an interpreter reads as it starts (or its libraries as they load): a child
whose environment sets them otherwise than the server's must start for real."""
APPLIED = frozenset({"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"})
"""Start-up variables the forked child applies itself."""


def _start_up(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(START_UP) and k not in APPLIED}


def _same_start_up(env: Mapping[str, str], server_env: dict[str, str]) -> bool:
    return _start_up(env) == _start_up(server_env)


def _stream(wanted: Any, index: int, earlier: list[int]) -> tuple[int, int | None]:
    """The child's descriptor for standard stream `index` (a new one: the caller closes it),
    and the parent's end of a pipe, if one was asked for."""
    if wanted == subprocess.PIPE:
        read_end, write_end = os.pipe()
        return (read_end, write_end) if index == 0 else (write_end, read_end)
    if wanted == subprocess.DEVNULL:
        return os.open(os.devnull, os.O_RDONLY if index == 0 else os.O_WRONLY), None
    if wanted == subprocess.STDOUT:
        return os.dup(earlier[1]), None
    if wanted is None:
        return os.dup(index), None
    return os.dup(wanted if isinstance(wanted, int) else wanted.fileno()), None


def _file(fd: int, mode: str, text: bool) -> IO[Any]:
    return os.fdopen(fd, mode[0], encoding="utf-8") if text else os.fdopen(fd, mode)


def _start_server() -> tuple[subprocess.Popen[bytes], socket.socket, dict[str, str]]:
    global _server
    with _lock:
        if _server is None or _server[0].poll() is not None:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICED_", "OPENAI_"))}
            process = subprocess.Popen(
                [sys.executable, __file__, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
            theirs.close()
            if _server is None:
                atexit.register(_stop_server)
            _server = (process, ours, env)
        return _server


def _stop_server() -> None:
    if _server is not None:
        process, control, _ = _server
        control.close()  # the server ends at the end of its requests
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()


def _serve(control: socket.socket) -> dict[str, Any] | None:
    """The fork server's loop: import, then fork a child per request until EOF. Returns
    in a child only, with what it is to become."""
    import importlib

    for module in PRELOAD:
        importlib.import_module(module)
    from voiced.simulator.validation import StrictValidator

    StrictValidator()  # imports what --strict validates against
    gc.freeze()  # what is imported stays out of the children's collections: no copying it
    statuses: dict[int, int] = {}  # child pid -> the write end of its status pipe
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    while True:
        ready = select.select([control, wake_read], [], [])[0]
        if wake_read in ready:
            os.read(wake_read, 4096)
            _reap(statuses)
        if control not in ready:
            continue
        message, fds, _, _ = socket.recv_fds(control, 1 << 20, 4)
        if not message:
            return None
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in (wake_read, wake_write, *statuses.values()):
                os.close(fd)
            control.close()
            request: dict[str, Any] = json.loads(message)
            request["fds"] = fds
            return request
        statuses[pid] = fds[3]
        pidfd = os.pidfd_open(pid)
        socket.send_fds(control, [str(pid).encode()], [pidfd])
        for fd in (pidfd, *fds[:3]):
            os.close(fd)


def _reap(statuses: dict[int, int]) -> None:
    """Collect the children that have exited and tell each one's test how it ended."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        if (fd := statuses.pop(pid, None)) is not None:
            os.write(fd, str(os.waitstatus_to_exitcode(status)).encode())
            os.close(fd)


_old_streams: list[IO[Any]] = []


def _become(request: dict[str, Any]) -> None:
    """In the forked child: become the command the request describes, as a fresh
    interpreter would run it; its exit is the interpreter's."""
    import runpy

    for target, fd in enumerate(request["fds"][:3]):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    _fresh_interpreter_state(request["env"])
    if "module" in request:
        for name in (request["module"], f"{request['module']}.__main__"):  # as `-m` finds them:
            if not hasattr(sys.modules.get(name), "__path__"):  # run afresh, not imported
                sys.modules.pop(name, None)
        sys.argv = [request["module"], *request["argv"][3:]]
        sys.path[0] = request["cwd"]
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(request["argv"])
        sys.path[0] = str(Path(request["script"]).parent)
        runpy.run_path(request["script"], run_name="__main__")


def _fresh_interpreter_state(env: dict[str, str]) -> None:
    """Standard streams, random seeds and flags as an interpreter starting in `env` has them."""
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    _old_streams.extend((sys.stdin, sys.stdout, sys.stderr))  # they must not close 0, 1, 2
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "rb", closefd=False)),
                                                 encoding="utf-8")
    sys.stdout = sys.__stdout__ = _writer(1, unbuffered, "strict", line=os.isatty(1))
    sys.stderr = sys.__stderr__ = _writer(2, unbuffered, "backslashreplace", line=True)
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    if "random" in sys.modules:
        sys.modules["random"].seed()
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()


def _writer(fd: int, unbuffered: bool, errors: str, *, line: bool) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "wb", closefd=False)
    binary: Any = raw if unbuffered else io.BufferedWriter(raw)
    return io.TextIOWrapper(binary, encoding="utf-8", errors=errors, line_buffering=line,
                            write_through=unbuffered)


def fork_simulator(args: list[str], stderr: IO[bytes]) -> ForkedProcess | subprocess.Popen[Any]:
    """`python -m voiced.simulator ARGS` in this process's environment and folder; its
    stdout is a pipe to read, its stderr goes to `stderr` (closed here)."""
    try:
        return popen([sys.executable, "-m", "voiced.simulator", *args], stdin=subprocess.DEVNULL,
                     stdout=subprocess.PIPE, stderr=stderr, text=True)
    finally:
        stderr.close()


def _end(request: dict[str, Any]) -> None:
    """Run the child's command, then end as the interpreter would (threads joined, atexit
    handlers run, streams flushed, the exit code, a traceback, death by SIGINT for a
    KeyboardInterrupt), but without tearing down the modules: that would touch, and so
    copy, every page the server shares with it (0.15 s of CPU a child)."""
    code, interrupted = 0, False
    try:
        _become(request)
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


if __name__ == "__main__":
    job = _serve(socket.socket(fileno=int(sys.argv[1])))
    if job is not None:
        _end(job)
