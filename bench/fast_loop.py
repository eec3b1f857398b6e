"""How long the fast loop takes: `pytest -m "not audio"`, as a first contributor runs it.

Each run starts as a fresh clone would: no bytecode beside the sources (the `__pycache__`
folders under the checkout are removed first, the virtual environment's are kept) and
none written (PYTHONDONTWRITEBYTECODE=1, as on CI). It records the wall time, the tests
that passed, and the machine's busy and idle CPU-seconds over the run from /proc/stat
(machine-wide: the fork server's children are nobody's children by the end). The target
(issue 15): under a minute on the 2-core VM.

Run: `.venv/bin/python bench/fast_loop.py [--runs 3]`; results go to
bench/results/fast_loop.txt (and are printed).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "fast_loop.txt"
TARGET_S = 60.0


def cpu_seconds() -> tuple[float, float]:
    """The machine's busy (user, nice, system) and idle CPU-seconds so far."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    return (fields[0] + fields[1] + fields[2]) / ticks, fields[3] / ticks


def fresh_tree() -> None:
    for folder in ROOT.rglob("__pycache__"):
        if ".venv" not in folder.relative_to(ROOT).parts:
            shutil.rmtree(folder, ignore_errors=True)


def one_run() -> tuple[float, str, float, float]:
    fresh_tree()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    busy0, idle0 = cpu_seconds()
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not audio"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    busy1, idle1 = cpu_seconds()
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    return wall, re.sub(r"=+", "", summary).strip(), busy1 - busy0, idle1 - idle0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    lines = [f"pytest -m \"not audio\" from a fresh tree, {time.strftime('%Y-%m-%d %H:%M')}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}, PYTHONDONTWRITEBYTECODE=1"]
    walls = []
    for number in range(1, runs + 1):
        wall, summary, busy, idle = one_run()
        walls.append(wall)
        lines.append(f"run {number}: {wall:5.1f} s ({summary}; busy {busy:.0f} CPU-s, idle {idle:.0f})")
        print(lines[-1], flush=True)
    lines.append(f"median {statistics.median(walls):.1f} s, range {min(walls):.1f}-{max(walls):.1f} s; "
                 f"target under {TARGET_S:.0f} s: {'met' if max(walls) < TARGET_S else 'NOT met'}")
    print(lines[-1])
    RESULTS.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
