"""What standby costs: the daemon's CPU and memory in `[listen] mode = "wake"`, quiet room.

Each case starts a fresh daemon in standby over a PulseAudio null device (nothing is
played into the microphone), lets it settle, then reads its user+system time from
/proc over several windows (`--runs` of `--seconds` each) and its resident memory
(VmRSS, and the peak VmHWM). The cases: voice-activity wake (no wake word) and the
offline wake word (`[listen] wake_word = "okay_nabu"`). The targets: <= 1 % of a
core with voice-activity wake, <= 1.3 % with the wake word, RSS <= 80 MB.

Run: `.venv/bin/python bench/standby.py [--seconds 60] [--runs 3]`; results go to
bench/results/standby.txt (and are printed).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env  # noqa: E402
from tests.support.pulse import PulseServer  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "standby.txt"
SETTLE_S = 5.0
"""After standby begins: start-up's imports and the wake-word model's loading are done."""
CASES = {
    "voice-activity wake": '[listen]\nmode = "wake"\n',
    "wake word okay_nabu": '[listen]\nmode = "wake"\nwake_word = "okay_nabu"\n',
}
TARGET_CPU = {"voice-activity wake": 1.0, "wake word okay_nabu": 1.3}
TARGET_RSS_MB = 80.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of `pid`, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def measure(config: str, seconds: float, runs: int,
            pulse: PulseServer) -> tuple[list[float], dict[str, float], float, int]:
    """CPU (% of a core) of each run, memory at the end, capture batches a second and the
    input period."""
    folder = Path(tempfile.mkdtemp(prefix="voiced-standby-"))
    simulator = SimulatorProcess(folder)
    daemon = DaemonProcess(folder, {**daemon_env(pulse.env, simulator), "VOICED_LOGGING__LEVEL": "info"},
                           config=config, wait_ready=False)
    try:
        daemon.wait_state("standby", timeout=30)
        time.sleep(SETTLE_S)
        pid = daemon.process.pid
        batches = daemon.status()["devices"]["capture_batches"]
        cpu, started_all = [], time.monotonic()
        for _ in range(runs):
            before, started = cpu_seconds(pid), time.monotonic()
            time.sleep(seconds)
            cpu.append((cpu_seconds(pid) - before) / (time.monotonic() - started) * 100)
        status = daemon.status()
        assert status["state"] == "standby", "a quiet room woke voiced"
        handed = (status["devices"]["capture_batches"] - batches) / (time.monotonic() - started_all)
        assert not simulator.events("in"), "something left the machine in standby"
        return cpu, memory_mb(pid), round(handed, 1), status["devices"].get("input_period_ms", 0)
    finally:
        daemon.terminate()
        simulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lines = [f"standby cost, {time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, {os.cpu_count()} cores,"
             f" Python {platform.python_version()}; daemon process, quiet room (PulseAudio null source),"
             f" {args.runs} runs of {args.seconds:g} s each after {SETTLE_S:g} s in standby"]
    with PulseServer() as pulse:
        for case, config in CASES.items():
            cpu, memory, handed, period = measure(config, args.seconds, args.runs, pulse)
            lines.append(
                f"{case + ':':22} CPU {statistics.fmean(cpu):.2f} % of one core"
                f" (runs {', '.join(f'{c:.2f}' for c in cpu)}; target <= {TARGET_CPU[case]:g} %);"
                f" RSS {memory['VmRSS']:.1f} MB (peak {memory['VmHWM']:.1f} MB;"
                f" target <= {TARGET_RSS_MB:g} MB); input period {period} ms,"
                f" microphone audio handed to trio {handed:g} times a second")
            print(lines[-1], flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
