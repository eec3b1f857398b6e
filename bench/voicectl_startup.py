"""How long `voicectl status` takes next to `python -c pass` (target: at most 4x).

Runs the installed console script against a tiny stdlib socket server that answers
`status`, many times each, and writes the medians to bench/results/voicectl_startup.txt.
Usage: python bench/voicectl_startup.py [RUNS]
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPLY = b'{"jsonrpc":"2.0","id":1,"result":{"state":"standby","uptime_s":42}}\n'


def serve_status(listener: socket.socket) -> None:
    """Answer every connection's first line with a canned status result."""
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            data = b""
            while b"\n" not in data:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                data += chunk
            connection.sendall(REPLY)


def median_ms(command: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    bin_dir = Path(sys.executable).parent
    voicectl = shutil.which("voicectl", path=str(bin_dir)) or shutil.which("voicectl")
    if voicectl is None:
        sys.exit("voicectl is not installed in this environment")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "control.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(16)
        threading.Thread(target=serve_status, args=(listener,), daemon=True).start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOICED_")}
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "voicectl status": [voicectl, "--socket", path, "status"],
            "voicectl status --json": [voicectl, "--socket", path, "status", "--json"],
            "voicectl --help (typer)": [voicectl, "--help"],
        }
        for command in commands.values():  # warm the file cache and .pyc files
            subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
        results = {name: median_ms(cmd, runs, env) for name, cmd in commands.items()}
        listener.close()

    base = results["python -c pass"]
    lines = [f"voicectl start-up, median of {runs} runs ({sys.executable}, {voicectl})"]
    lines += [f"{name:<26} {ms:7.1f} ms  {ms / base:5.2f}x" for name, ms in results.items()]
    ratio = results["voicectl status"] / base
    lines.append(f"target: voicectl status <= 4x python -c pass: {'met' if ratio <= 4 else 'MISSED'}")
    report = "\n".join(lines) + "\n"
    out = Path(__file__).parent / "results" / "voicectl_startup.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(report)
    print(report, end="")


if __name__ == "__main__":
    main()
