"""``python -m voiced.simulator``: the Realtime simulator on its own, for work without a key.

Prints exactly one line to stdout once it listens (``voiced simulator listening on
URL``) so a script can wait for it, logs to stderr, stops cleanly (exit 0) on
SIGINT or SIGTERM. A bad argument, an unusable script or a busy port is one line
on stderr and exit 2.

Failures for testing a client's recovery: ``--max-session-s`` (the session cap),
``--refuse-connections N`` (HTTP 503 at the next N handshakes) and ``--fault SPEC``
(repeatable), where SPEC is ``key=value`` pairs separated by commas, as in
:mod:`voiced.simulator.faults`::

    python -m voiced.simulator --fault action=drop,during_response=1,after_deltas=3 \
        --fault action=close,code=1012,after_response=2,every_session=true \
        --fault action=error,code=insufficient_quota,at_s=1.5 \
        --fault action=stall,seconds=4,after_append=50 --refuse-connections 2 \
        --fault action=bad_delta,delta=odd,during_response=1,after_deltas=2 \
        --fault action=tool_call,arguments=deep,after_response=1,every_nth_session=3,first_session=2
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import textwrap
from pathlib import Path
from typing import NoReturn

import trio

from voiced.simulator.faults import Fault
from voiced.simulator.script import Script, ScriptError
from voiced.simulator.server import DEFAULT_SPEED, Simulator

PROG = "python -m voiced.simulator"
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _fail(message)


def _fail(message: str) -> NoReturn:
    print(f"voiced simulator: {message}", file=sys.stderr, flush=True)
    sys.exit(EXIT_USAGE)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _fault(text: str) -> Fault:
    try:
        return Fault.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad fault {text!r}: {exc}") from None


FAULTS_HELP = textwrap.dedent(
    """\
    faults (--fault, repeatable): key=value pairs separated by commas.
      action=drop                      close TCP without a close frame (client sees 1006)
      action=close[,code=N][,reason=T] close frame; code 1011 by default (1001, 1012, 1013...)
      action=error[,code=C][,message=T]
                                       an error event; code server_error by default; a fatal
                                       code (invalid_api_key, insufficient_quota,
                                       account_deactivated, billing_hard_limit_reached)
                                       then closes with 1008
      action=malformed[,frame=F]       F: text (not JSON, default), no_type, binary
      action=stall[,seconds=S]         send nothing, not even pongs, for S s (default 5)
      action=bad_delta[,delta=D]       spoil the next output audio delta; D: odd (default;
                                       split into two deltas of an odd number of bytes) or
                                       base64 (a delta that is not base64 goes first)
      action=tool_call[,arguments=A][,name=F]
                                       the model calls function F (default: the first the
                                       session declares) with hostile arguments A: deep
                                       (default; [[[...]]] nested depth=N deep, default 5000),
                                       huge (a string of size=N characters, default
                                       1000000) or invalid (not JSON); the call starts now,
                                       or when the active response ends
    and exactly one trigger, counted per session:
      at_s=T                           T s after the connection was accepted
      after_append=N                   after the Nth input_audio_buffer.append
      during_response=N[,after_deltas=K]
                                       in the Nth response after K deltas (default 1)
      after_response=N                 right after the Nth response.done
    A fault fires once, or in every session with every_session=true, or in sessions
    K, K+N, K+2N... with every_nth_session=N (first_session=K, default 1; sessions
    count from 1). A script's [faults] table takes the same keys
    (inject = [{ action = "drop", at_s = 2 }]).
    Example: --fault action=close,code=1012,after_response=1,every_session=true
    Taking turns, one a session (a drop in sessions 1, 3, 5..., a call in 2, 4...):
      --fault action=drop,at_s=5,every_nth_session=2
      --fault action=tool_call,after_response=1,every_nth_session=2,first_session=2
    """
)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A stand-in for the OpenAI Realtime API (GA).",
        epilog=FAULTS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--script", type=Path, help="scripted turns (.toml or .json)")
    parser.add_argument(
        "--strict", action="store_true", help="also validate client events with the openai types"
    )
    parser.add_argument("--event-log", type=Path, help="append every event to this JSON Lines file")
    parser.add_argument("--api-key", help="accept only this bearer token (default: any)")
    parser.add_argument(
        "--speed",
        type=_positive,
        default=DEFAULT_SPEED,
        help=f"how much faster than real time responses stream (default {DEFAULT_SPEED})",
    )
    parser.add_argument(
        "--max-session-s",
        type=_positive,
        metavar="SECONDS",
        help="close each session with 1001 'maximum duration' after this long "
        "(default: the script's [faults] max_session_s, else 3600 as the service)",
    )
    parser.add_argument(
        "--refuse-connections",
        type=_count,
        metavar="N",
        help="answer the next N handshakes with HTTP 503 (default: the script's, else 0)",
    )
    parser.add_argument(
        "--no-session-id",
        action="store_true",
        help="send session.created and session.updated without the session's id, as the "
        "GA schema allows (clients must not rely on it)",
    )
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault, e.g. action=drop,at_s=2 (see below; repeatable)",
    )
    parser.add_argument("--debug", action="store_true", help="log every event to stderr")
    return parser


async def _run(simulator: Simulator, host: str, port: int) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(
                lambda task_status: simulator.serve(host=host, port=port, task_status=task_status)
            )
            print(f"voiced simulator listening on {url}", flush=True)
            async for signum in signals:
                logging.getLogger("voiced.simulator").info("stopping on %s", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until a signal; return the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        script = Script.load(args.script) if args.script else None
        simulator = Simulator(
            script=script,
            api_key=args.api_key,
            strict=args.strict,
            speed=args.speed,
            event_log=args.event_log,
            max_session_s=args.max_session_s,
            faults=args.fault,
            refuse_connections=args.refuse_connections,
            session_ids=not args.no_session_id,
        )
    except ScriptError as exc:
        _fail(str(exc))
    except (RuntimeError, OSError) as exc:
        _fail(f"{exc}")
    try:
        trio.run(_run, simulator, args.host, args.port)
    except Exception as exc:
        bind_error = _find_os_error(exc)
        if bind_error is None:
            raise
        _fail(f"cannot listen on {args.host}:{args.port}: {bind_error.strerror or bind_error}")
    return 0


def _find_os_error(exc: BaseException) -> OSError | None:
    """The OSError (a busy or unknown address) inside what trio raised, if that is what it was."""
    if isinstance(exc, OSError):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = _find_os_error(inner)
        if found is not None:
            return found
    return None


if __name__ == "__main__":
    sys.exit(main())
