"""Soak: an hour of conversation with injected faults, watching the daemon's resources.

A real `voiced` talks through a private PulseAudio server (null devices) to `python -m
voiced.simulator`, which injects one fault of each group below a session, the kinds
taking turns. Turns never stop: typed (`say`), every fourth one spoken into the
microphone. The daemon's RSS, fds and threads are sampled every `--sample-s` seconds.
Targets:
- the daemon neither exits nor hangs (it is back to `listening` within `--stuck-s`);
- every fault is recovered, and every kind fired: within `--recovery-s` the daemon
  reports done a response it asked for after the fault (not the injected call), so a
  new session's when the fault ended the session;
- RSS grows at most 5 MB/h: the least-squares slope of the samples after the warm-up;
- fds and threads are flat: after the warm-up, the median of the last third of the
  samples is at most 2 above the median of the first third.
Faults after `--minutes` are not counted; the run goes on until those before are
recovered (at most `--recovery-s` more). Run: `.venv/bin/python bench/soak.py [--minutes
60]`: results in bench/results/soak.json, a summary printed, exit status 0 when every
target is met; the work folder (logs, event log) is kept when one is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env  # noqa: E402
from tests.support.pulse import PulseServer  # noqa: E402
from tests.support.signals import silence, speak  # noqa: E402
from voiced.pcm import WIRE_RATE as RATE  # noqa: E402
from voiced.simulator.faults import Fault  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "soak.json"
RSS_LIMIT_MB_PER_H = 5.0
FLAT_TOLERANCE = 2  # a WebSocket or a worker thread more at one moment is no leak; a leak grows
TURN_TIMEOUT_S, SPOKEN_EVERY = 90.0, 4

DISTURBANCES = {  # in or after each session's first response (the clock tool is on by default)
    "bad delta: odd length": "action=bad_delta,delta=odd,during_response=1,after_deltas=5",
    "bad delta: not base64": "action=bad_delta,delta=base64,during_response=1,after_deltas=5",
    "tool call: nested 5000 deep": "action=tool_call,arguments=deep,depth=5000,after_response=1",
    "tool call: 1 MB string": "action=tool_call,arguments=huge,size=1000000,after_response=1",
    "tool call: invalid JSON": "action=tool_call,arguments=invalid,after_response=1",
    "stall 3 s mid-answer": "action=stall,seconds=3,during_response=1,after_deltas=3",
}
BAD_FRAMES = {  # after the second
    "malformed: not JSON": "action=malformed,frame=text,after_response=2",
    "malformed: no type": "action=malformed,frame=no_type,after_response=2",
    "malformed: binary": "action=malformed,frame=binary,after_response=2",
    "error event": "action=error,code=server_error,after_response=2",
}
ENDINGS = {  # in or after the third; 30 s outlast the keep-alive (a ping every 15 s, 10 s for a pong)
    "drop (1006)": "action=drop,during_response=3,after_deltas=3",
    "close 1011": "action=close,code=1011,after_response=3",
    "close 1001": "action=close,code=1001,reason=maximum duration,after_response=3",
    "stall 30 s (keep-alive)": "action=stall,seconds=30,after_response=3",
}


def fault_plan() -> dict[str, str]:
    """Label -> `--fault` spec: in each group the kinds take turns, one a session."""
    return {
        label: f"{spec},every_nth_session={len(group)},first_session={turn}"
        for group in (DISTURBANCES, BAD_FRAMES, ENDINGS)
        for turn, (label, spec) in enumerate(group.items(), start=1)
    }


def _key(described: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in described.items() if k != "type"}, sort_keys=True)


class SimulatorLog:
    """Tails the simulator's event log: the faults it fired, its sessions, its responses."""

    def __init__(self, path: Path, plan: dict[str, str]) -> None:
        self._path, self._offset = path, 0
        self._labels = {_key(Fault.parse(spec).describe()): label for label, spec in plan.items()}
        self.faults: list[dict[str, Any]] = []  # label, t, session
        self.responses: dict[str, dict[str, Any]] = {}  # id -> created (t), call (a function call?)
        self.sessions = 0

    def poll(self) -> None:
        with contextlib.suppress(FileNotFoundError), self._path.open("rb") as log:
            log.seek(self._offset)
            complete = (data := log.read())[: data.rfind(b"\n") + 1]
            self._offset += len(complete)
            for line in complete.splitlines():
                if b'"dir": "in"' not in line[:64]:  # what the daemon sent: mostly its audio
                    self._record(json.loads(line))

    def _record(self, record: dict[str, Any]) -> None:
        event = record["event"]
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "sim.fault":
            label = self._labels.get(_key(event), event["action"])
            self.faults.append({"label": label, "t": record["t"], "session": record["session"]})
        elif kind == "session.created":
            self.sessions += 1
        elif kind == "response.created":
            self.responses[event["response"]["id"]] = {"created": record["t"], "call": False}
        elif kind == "response.done" and event["response"]["id"] in self.responses:
            output = event["response"].get("output") or [{}]
            self.responses[event["response"]["id"]]["call"] = output[0].get("type") == "function_call"


class Subscription:
    """The daemon's events, read on a thread: answers done, sessions lost, tools called."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.done: list[dict[str, Any]] = []  # response_id, status, ts
        self.counts = {"session.disconnected": 0, "tool.called": 0, "tool.result": 0, "subscribed": 0}
        self.subscribe()

    def subscribe(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(self.socket_path))
        request = {"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                   "params": {"topics": ["assistant.response.done", "session", "tool"]}}
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        self.counts["subscribed"] += 1
        self.thread = threading.Thread(target=self._read, args=(self.sock,), daemon=True)
        self.thread.start()

    def _read(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError):  # the daemon is gone, or cut the stream
            for line in sock.makefile("rb"):
                params = json.loads(line).get("params") or {}
                if params.get("type") == "assistant.response.done":
                    self.done.append({**params["data"], "ts": params["ts"]})
                elif params.get("type") in self.counts:
                    self.counts[params["type"]] += 1


def sample(pid: int) -> dict[str, Any]:
    """RSS, threads and open fds of `pid`, and its fds by kind (socket, pipe, anon_inode, file)."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    kinds: dict[str, int] = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            kind = "file" if target.startswith("/") or ":" not in target else target.split(":", 1)[0]
            kinds[kind] = kinds.get(kind, 0) + 1
    return {"rss_kib": int(fields["VmRSS"].split()[0]), "threads": int(fields["Threads"]),
            "fds": sum(kinds.values()), "fd_kinds": kinds}


class Soak:
    """Drives turns and samples the daemon until the time is up or the daemon fails."""

    def __init__(self, daemon: DaemonProcess, log: SimulatorLog, pulse: PulseServer,
                 args: argparse.Namespace) -> None:
        self.daemon, self.log, self.pulse, self.args = daemon, log, pulse, args
        self.started = time.time()
        self.samples: list[dict[str, Any]] = []
        self.turns = {"typed": 0, "spoken": 0, "answered": 0, "timed_out": 0, "refused": 0}
        self.failure: dict[str, Any] | None = None
        self.events = Subscription(daemon.socket)
        self._stop = threading.Event()
        self._utterances = [np.concatenate([speak(text, rate=RATE), silence(1.0)])
                            for text in ("What is the weather like today?", "Tell me a short story.")]

    def run(self) -> None:
        sampler = threading.Thread(target=self._sample_every, daemon=True)
        sampler.start()
        try:
            deadline, number = self.started + self.args.minutes * 60, 0
            while self.failure is None and (time.time() < deadline or self._draining(deadline)):
                self._turn(number)
                number += 1
        finally:
            self._stop.set()
            sampler.join()
            self.events.sock.close()

    def _draining(self, deadline: float) -> bool:
        """After the deadline: whether a fault from before it still waits for its recovery."""
        self.log.poll()
        waiting = [f["t"] for f in self.log.faults if f["t"] <= deadline and not self.recovered(f)]
        return bool(waiting) and time.time() < max(waiting) + self.args.recovery_s

    def recovered(self, fault: dict[str, Any]) -> float | None:
        """Seconds from `fault` until the daemon saw done a response it asked for after the fault."""
        for event in list(self.events.done):
            response = self.log.responses.get(event.get("response_id") or "")
            if (event.get("status") == "completed" and response is not None and not response["call"]
                    and response["created"] > fault["t"]):
                return float(event["ts"] - fault["t"])
        return None

    def _sample_every(self) -> None:
        with contextlib.suppress(OSError, KeyError):  # the daemon is gone
            while not self._stop.is_set():
                self.samples.append({"t_s": round(time.time() - self.started, 1),
                                     **sample(self.daemon.process.pid)})
                self._stop.wait(self.args.sample_s)

    def _turn(self, number: int) -> None:
        if not self._ready():
            return
        answered, lost = len(self.events.done), self.events.counts["session.disconnected"]
        if number % SPOKEN_EVERY == SPOKEN_EVERY - 1:
            self.pulse.play_into_mic(self._utterances[number % len(self._utterances)])
            self.turns["spoken"] += 1
        elif "result" in (self._rpc("say", {"text": f"Please answer turn {number}."}) or {}):
            self.turns["typed"] += 1
        else:
            self.turns["refused"] += 1  # the session went away just now: try again
            time.sleep(0.5)
            return
        until = time.time() + TURN_TIMEOUT_S
        while self._alive() and self.events.counts["session.disconnected"] == lost:
            if len(self.events.done) > answered:
                self.turns["answered"] += 1
                break
            if time.time() > until:
                self.turns["timed_out"] += 1
                break
            time.sleep(0.05)
        time.sleep(0.5)

    def _ready(self) -> bool:
        """Wait until the daemon listens on a connected session; note a crash or a hang."""
        until = time.time() + self.args.stuck_s
        while time.time() < until:
            if not self._alive():
                return False
            if not self.events.thread.is_alive():
                with contextlib.suppress(OSError):
                    self.events.subscribe()
            status = (self._rpc("status") or {}).get("result") or {}
            if status.get("state") == "listening" and status.get("session", {}).get("connected"):
                return True
            time.sleep(0.2)
        self._fail(f"not back to listening on a connected session within {self.args.stuck_s:g} s")
        return False

    def _alive(self) -> bool:
        if (code := self.daemon.process.poll()) is not None and self.failure is None:
            self._fail(f"exited with {code}")
        return code is None

    def _fail(self, what: str) -> None:
        self.failure = {"what": what, "at_s": round(time.time() - self.started, 1),
                        "stderr_tail": self.daemon.stderr.splitlines()[-30:]}

    def _rpc(self, method: str, params: Any = None) -> dict[str, Any] | None:
        with contextlib.suppress(OSError, ValueError):
            return self.daemon.rpc(method, params)
        return None


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """The least-squares slope of (seconds, value) points, per hour; None for fewer than two times."""
    if len({t for t, _ in points}) < 2:
        return None
    return float(np.polyfit([t for t, _ in points], [v for _, v in points], 1)[0]) * 3600


def flat(name: str, values: list[int]) -> dict[str, Any]:
    """Whether `values` stay flat: the last third's median within the tolerance of the first's."""
    if not values:
        return {"pass": False, "detail": "no samples"}
    third = max(1, len(values) // 3)
    early, late = statistics.median(values[:third]), statistics.median(values[-third:])
    return {"pass": late - early <= FLAT_TOLERANCE, "early_median": early, "late_median": late,
            "detail": f"{name}: median {early:g} -> {late:g} (tolerance +{FLAT_TOLERANCE}),"
                      f" range {min(values)}-{max(values)}"}


def fault_results(soak: Soak, plan: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Per kind: how often it fired, how fast it was recovered; and the faults not recovered."""
    times: dict[str, list[float]] = {label: [] for label in plan}
    missed: list[dict[str, Any]] = []
    for fault in (f for f in soak.log.faults if f["t"] <= soak.started + soak.args.minutes * 60):
        took = soak.recovered(fault)
        if took is not None and took <= soak.args.recovery_s:
            times.setdefault(fault["label"], []).append(round(took, 2))
        else:
            missed.append({**fault, "at_s": round(fault["t"] - soak.started, 1)})
    return {label: {"fired": len(took) + sum(m["label"] == label for m in missed), "recovered": len(took),
                    "recovery_median_s": statistics.median(took) if took else None,
                    "recovery_max_s": max(took, default=None)} for label, took in times.items()}, missed


def analyse(soak: Soak, plan: dict[str, str]) -> dict[str, Any]:
    """What the run did, and the targets, each with `pass` and a one-line `detail`."""
    args, failure = soak.args, soak.failure
    soak.log.poll()
    kinds, missed = fault_results(soak, plan)
    never = [label for label, kind in kinds.items() if not kind["fired"]]
    recovered = f"{sum(k['recovered'] for k in kinds.values())} of {sum(k['fired'] for k in kinds.values())}"
    warm = min(args.warmup_minutes * 60, args.minutes * 60 / 3)
    steady = [s for s in soak.samples if s["t_s"] >= warm]
    rss = slope_per_hour([(s["t_s"], s["rss_kib"] * 1024 / 1e6) for s in steady])
    ends = " -> ".join(f"{s['rss_kib'] * 1024 / 1e6:.1f}" for s in steady[:1] + steady[-1:])
    targets: dict[str, dict[str, Any]] = {
        "daemon alive": {"pass": failure is None, "failure": failure,
                         "detail": f"{failure['what']} at {failure['at_s']} s" if failure else "throughout"},
        "every fault recovered": {
            "pass": not missed and not never and failure is None, "not_recovered": missed[:50],
            "detail": f"{recovered} within {args.recovery_s:g} s; never fired: {', '.join(never) or 'none'}"},
        f"RSS growth <= {RSS_LIMIT_MB_PER_H:g} MB/h": {
            "pass": rss is not None and rss <= RSS_LIMIT_MB_PER_H, "mb_per_h": rss and round(rss, 2),
            "detail": f"{'n/a' if rss is None else f'{rss:+.2f}'} MB/h, fitted over {len(steady)} samples"
                      f" after a {warm / 60:.3g} min warm-up ({ends} MB)"},
        "fds flat": flat("fds", [s["fds"] for s in steady]),
        "threads flat": flat("threads", [s["threads"] for s in steady]),
    }
    return {
        "bench": "soak", "date": time.strftime("%Y-%m-%d %H:%M"), "host": platform.node(),
        "cores": os.cpu_count(), "python": platform.python_version(),
        "command": " ".join([".venv/bin/python", "bench/soak.py", *sys.argv[1:]]),
        "minutes": args.minutes, "ran_s": round(time.time() - soak.started, 1), "warmup_s": warm,
        "sample_s": args.sample_s, "pass": all(t["pass"] for t in targets.values()), "targets": targets,
        "faults": kinds, "fault_specs": plan, "turns": soak.turns, "sessions": soak.log.sessions,
        "daemon_events": soak.events.counts, "daemon_tracebacks": soak.daemon.stderr.count("Traceback"),
        "samples": soak.samples,
    }


def summary(result: dict[str, Any]) -> list[str]:
    turns, events = result["turns"], result["daemon_events"]
    lines = [
        f"voiced soak, {result['date']}, {result['host']}, {result['cores']} cores,"
        f" Python {result['python']}; simulator over loopback, PulseAudio null devices",
        f"{result['minutes']:g} min asked, {result['ran_s'] / 60:.1f} min run; turns: {turns['typed']} typed,"
        f" {turns['spoken']} spoken, {turns['answered']} answered, {turns['timed_out']} timed out;"
        f" {result['sessions']} sessions",
        f"the daemon: {events['tool.called']} tool calls, {events['tool.result']} results;"
        f" {result['daemon_tracebacks']} tracebacks on its stderr",
        "faults fired in the asked time:",
    ]
    for label, kind in result["faults"].items():
        times = (f", median {kind['recovery_median_s']:g} s, max {kind['recovery_max_s']:g} s"
                 if kind["recovered"] else "")
        lines.append(f"  {label:28} {kind['fired']:4} fired, {kind['recovered']:4} recovered{times}")
    for name, target in result["targets"].items():
        lines.append(f"{name + ':':24} {'PASS' if target['pass'] else 'FAIL'}  {target['detail']}")
    return [*lines, f"result: {'PASS' if result['pass'] else 'FAIL'}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="how long to converse (default 60)")
    parser.add_argument("--sample-s", type=float, default=60.0, help="seconds between samples (default 60)")
    parser.add_argument("--warmup-minutes", type=float, default=10.0,
                        help="samples before this are left out of the fits (at most a third of the run)")
    parser.add_argument("--recovery-s", type=float, default=120.0, help="time a fault has to be recovered")
    parser.add_argument("--stuck-s", type=float, default=180.0, help="time to get back to listening")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (bench/results/soak.json)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder even when all is well")
    args = parser.parse_args()

    folder, plan = Path(tempfile.mkdtemp(prefix="voiced-soak-")), fault_plan()
    with PulseServer() as pulse:
        simulator = SimulatorProcess(folder, None, *[a for spec in plan.values() for a in ("--fault", spec)])
        env = {**daemon_env(pulse.env, simulator), "VOICED_LOGGING__LEVEL": "info"}
        daemon = DaemonProcess(folder, env, config="[listen]\ncues = false\n", wait_ready=False)
        try:
            daemon.wait_state("listening", timeout=30)
            soak = Soak(daemon, SimulatorLog(simulator.event_log, plan), pulse, args)
            soak.run()
        finally:
            with contextlib.suppress(AssertionError):  # it ignored SIGTERM: killed, and its stderr says why
                daemon.terminate()
            simulator.stop()
    result = analyse(soak, plan)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("\n".join(summary(result)))
    if result["pass"] and not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        print(f"work folder (logs, the simulator's event log): {folder}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
