"""Simulators forked from a process that has already imported them.

Most of a simulator's start-up is importing: openai's types, which ``--strict`` validates
against, alone take a third of a second of CPU, and the suite starts about a hundred
simulators. So each test process starts one fork server (this file, run as a script),
which imports ``voiced.simulator`` and those types once, then forks a child per request
that runs the command line's own ``main(argv)`` with the test's environment, working
folder, stdout and stderr: the same simulator as ``python -m voiced.simulator`` runs,
without the imports.

The server needs nothing but the standard library until it imports the simulator, so it
runs as a plain script. It talks over a ``SOCK_SEQPACKET`` socket pair: a request is a
JSON object with the stdout and stderr descriptors attached; the answer is the child's
pid with a pidfd attached, through which the test watches and signals its simulator
(a pidfd cannot be fooled by a reused pid, and needs no parent-child relation).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

_server: tuple[subprocess.Popen[bytes], socket.socket] | None = None
_lock = threading.Lock()


class ForkedProcess:
    """The part of `subprocess.Popen` a simulator's owner uses, for a forked simulator.

    Its exit status belongs to the fork server, which reaps it: `returncode` only says
    whether it has exited (0 once it has)."""

    def __init__(self, pid: int, pidfd: int, stdout: IO[str]) -> None:
        self.pid = pid
        self.stdout = stdout
        self._pidfd = pidfd
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._pidfd], [], [], 0)[0]:
            self.returncode = 0
            os.close(self._pidfd)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"simulator {self.pid}", timeout or 0)
            select.select([self._pidfd], [], [], left)
        return 0

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            signal.pidfd_send_signal(self._pidfd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork_simulator(args: list[str], stderr: IO[bytes]) -> ForkedProcess:
    """`python -m voiced.simulator ARGS` as a child of the fork server, in this process's
    environment and folder; its stdout is a pipe to read, its stderr goes to `stderr`."""
    server = _start_server()
    read_end, write_end = os.pipe()
    request = {"argv": args, "cwd": os.getcwd(), "env": dict(os.environ)}
    try:
        with _lock:
            socket.send_fds(server, [json.dumps(request).encode()], [write_end, stderr.fileno()])
            reply, fds, _, _ = socket.recv_fds(server, 64, 1)
    finally:
        os.close(write_end)
        stderr.close()
    if not fds:
        os.close(read_end)
        raise AssertionError(f"the simulator fork server did not fork: {reply!r}")
    return ForkedProcess(int(reply), fds[0], os.fdopen(read_end, "r"))


def _start_server() -> socket.socket:
    global _server
    with _lock:
        if _server is None or _server[0].poll() is not None:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            process = subprocess.Popen(
                [sys.executable, __file__, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
            theirs.close()
            if _server is None:
                atexit.register(_stop_server)
            _server = (process, ours)
        return _server[1]


def _stop_server() -> None:
    if _server is not None:
        process, control = _server
        control.close()  # the server ends at the end of its requests
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()


def _serve(control: socket.socket) -> None:
    """The fork server's loop: import, then fork a simulator per request until EOF."""
    from voiced.simulator.__main__ import main
    from voiced.simulator.validation import StrictValidator

    StrictValidator()  # imports what --strict validates against
    while True:
        message, fds, _, _ = socket.recv_fds(control, 1 << 20, 2)
        if not message:
            return
        request: dict[str, Any] = json.loads(message)
        pid = os.fork()
        if pid == 0:
            control.close()
            _run_child(main, request, fds)
        pidfd = os.pidfd_open(pid)
        socket.send_fds(control, [str(pid).encode()], [pidfd])
        for fd in (pidfd, *fds):
            os.close(fd)
        _reap()


def _run_child(main: Any, request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: become the simulator the request describes; never returns."""
    code = 1
    try:
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in fds:
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [str(Path(main.__code__.co_filename)), *request["argv"]]
        code = main(request["argv"])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _reap() -> None:
    """Collect the children that have exited (the tests watch them through their pidfds)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


if __name__ == "__main__":
    _serve(socket.socket(fileno=int(sys.argv[1])))
