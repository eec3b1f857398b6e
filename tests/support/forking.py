"""Our own commands (voiced, voicectl, the simulator, the test MCP server) forked from a
process that has already imported them.

Most of a voiced, voicectl or simulator start is importing (a third to three quarters of
a second of CPU each: pydantic, typer, trio, numpy, openai's and the MCP SDK's types), and
the suite starts hundreds of them. So the test processes of a run share one fork server
(tests/support/fork_server.py), which imports them once and forks a child per request that
becomes the command the test asked for, as a fresh interpreter would run it; only the
interpreter's start and the imports are left out. A forked `voicectl config path` costs
0.03 s of CPU, 0.22 s started for real.

`popen` and `run` stand in for `subprocess.Popen` and `subprocess.run`, for the parts the
tests use; `command` gives the command line for a program that starts the command itself.
What a fork cannot reproduce runs as a real process instead: a program that is not Python
of this environment, options such as `pass_fds` or `start_new_session`, and an environment
whose start-up variables (PYTHON*, LD_*, the locale) differ from the server's. Tests that
look at the process itself (/proc/PID/environ or maps, the imports of a start) use
`subprocess`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from tests.support import fork_server

SERVER = Path(fork_server.__file__)
START_S = 60.0
"""How long a test process waits for the server to start listening."""

_connection: tuple[socket.socket, Path, dict[str, str]] | None = None
_lock = threading.Lock()


def popen(argv: Sequence[str | os.PathLike[str]], *, env: Mapping[str, str] | None = None,
          cwd: str | os.PathLike[str] | None = None, stdin: Any = None, stdout: Any = None,
          stderr: Any = None, text: bool = False, **others: Any) -> ForkedProcess | subprocess.Popen[Any]:
    """`subprocess.Popen(argv, ...)`, forked from the server when it can be (see above)."""
    args = [os.fspath(arg) for arg in argv]
    environment = dict(os.environ if env is None else env)
    plan = None if others else fork_server.plan(args)
    if plan is None or fork_server.start_up(environment) != _server()[2]:
        return subprocess.Popen(args, env=environment, cwd=cwd, stdin=stdin, stdout=stdout,
                                stderr=stderr, text=text, **others)
    request = {**plan, "env": environment, "cwd": os.path.abspath(cwd or os.getcwd())}
    return ForkedProcess(request, args, (stdin, stdout, stderr), text)


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


def command(argv: Sequence[str | os.PathLike[str]]) -> list[str]:
    """The command line that runs `argv` forked from the server, for a program that starts
    it itself (voiced starting an MCP server): `argv` itself when it cannot be forked."""
    args = [os.fspath(arg) for arg in argv]
    if fork_server.plan(args) is None:
        return args
    return [sys.executable, str(SERVER), "via", str(_server()[1]), *args]


class ForkedProcess:
    """The parts of `subprocess.Popen` the tests use, for a child of the fork server."""

    def __init__(self, request: dict[str, Any], args: list[str], streams: tuple[Any, Any, Any],
                 text: bool) -> None:
        self.args = args
        self.returncode: int | None = None
        theirs: list[int] = []
        ours: list[int | None] = []
        for index, wanted in enumerate(streams):
            child_end, parent_end = _stream(wanted, index, theirs)
            theirs.append(child_end)
            ours.append(parent_end)
        status_read, status_write = os.pipe()
        connection, path, _ = _server()
        try:
            with _lock:
                socket.send_fds(connection, [json.dumps(request).encode()], [*theirs, status_write])
                reply, fds, _, _ = socket.recv_fds(connection, 64, 1)
        except OSError as error:
            reply, fds = str(error).encode(), []
        finally:
            for fd in {*theirs, status_write}:
                os.close(fd)
        if not fds:
            _forget_server()
            for fd in (status_read, *(fd for fd in ours if fd is not None)):
                os.close(fd)
            log = path.with_name("server.log")
            raise AssertionError(f"the fork server did not fork {args}: {reply!r}\n"
                                 f"{log.read_text(errors='replace') if log.exists() else ''}")
        self.pid = int(reply)
        self._pidfd = fds[0]
        self._status = status_read
        self.stdin, self.stdout, self.stderr = (
            None if fd is None else _file(fd, "w" if index == 0 else "r", text)
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
            with contextlib.suppress(ProcessLookupError):  # it ended; the server is telling us
                signal.pidfd_send_signal(self._pidfd, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


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
    return os.fdopen(fd, mode, encoding="utf-8") if text else os.fdopen(fd, mode + "b")


def _server() -> tuple[socket.socket, Path, dict[str, str]]:
    """This process's connection to the run's fork server (started if need be), the
    server's socket, and the start-up variables it was started with."""
    global _connection
    with _lock:
        if _connection is None:
            run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"
            path = Path(tempfile.gettempdir()) / f"voiced-forks-{os.geteuid()}-{run}" / "server.sock"
            for _ in range(3):  # a server that ends as it is reached takes its folder along
                path.parent.mkdir(mode=0o700, exist_ok=True)
                with contextlib.suppress(FileNotFoundError):
                    connection = _connect(path)
                    break
            else:
                raise AssertionError(f"cannot reach or start a fork server at {path}")
            hello = connection.recv(1 << 16)
            if not hello:
                raise AssertionError(f"the fork server at {path} hung up (see its server.log)")
            _connection = (connection, path, json.loads(hello)["start_up"])
        return _connection


def _forget_server() -> None:
    """Drop a connection the server no longer answers: the next request connects anew."""
    global _connection
    with _lock:
        if _connection is not None:
            _connection[0].close()
            _connection = None


def _connect(path: Path) -> socket.socket:
    """Connect to the server at `path`, starting it first if nobody has. Connecting holds
    the folder's lock, which the server takes before it ends."""
    with (path.parent / "lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.fstat(lock.fileno()).st_ino != (path.parent / "lock").stat().st_ino:
            raise FileNotFoundError("the server that ended took this lock along")  # try anew
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            connection.connect(str(path))
            return connection
        except (FileNotFoundError, ConnectionRefusedError):
            path.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICED_", "OPENAI_"))}
        log = path.with_name("server.log")
        with log.open("ab") as errors:
            server = subprocess.Popen([sys.executable, str(SERVER), "serve", str(path)], env=env,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=errors, start_new_session=True)
        deadline = time.monotonic() + START_S
        while True:
            try:
                connection.connect(str(path))
                return connection
            except (FileNotFoundError, ConnectionRefusedError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the fork server did not start (exit {server.returncode}):\n"
                                         f"{log.read_text(errors='replace')}") from None
                time.sleep(0.005)
