"""What listening costs before voiced does any work of its own: the CPU floor.

Two measurements, each in a fresh process, over the same kind of PulseAudio null
device the suite uses:
- PortAudio's input stream at 20 ms periods with a callback that does nothing;
- trio woken from a thread every 20 ms (`run_sync_soon`, as the capture callback does),
  the frame passed through two memory channels (capture -> microphone task -> sender).

Their sum is what any trio daemon with a PortAudio callback pays per 20 ms frame on this
machine; voiced's own share of its listening CPU is what `bench/realtime.py` measures
above it. Run: `.venv/bin/python bench/listening_floor.py`; results go to
bench/results/listening_floor.txt.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.pulse import PulseServer  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "listening_floor.txt"
SECONDS = 15

INPUT_STREAM = """
import os, sys, time, pyaudio
pa = pyaudio.PyAudio()
stream = pa.open(format=pyaudio.paInt16, channels=1, rate=24000, input=True, frames_per_buffer=480,
                 stream_callback=lambda *a: (None, pyaudio.paContinue))
time.sleep(1.0)
before, started = os.times(), time.monotonic()
time.sleep(float(sys.argv[1]))
after = os.times()
print((after.user + after.system - before.user - before.system) / (time.monotonic() - started) * 100)
"""

TRIO_HOPS = """
import os, sys, threading, time, trio

async def main(seconds):
    token = trio.lowlevel.current_trio_token()
    frames_in, frames = trio.open_memory_channel(100)
    outbox_in, outbox = trio.open_memory_channel(100)
    stop = threading.Event()

    def audio_thread():
        frame = bytes(960)
        while not stop.wait(0.02):
            token.run_sync_soon(frames_in.send_nowait, frame)

    async def microphone():
        async for frame in frames:
            outbox_in.send_nowait(frame)

    async def sender():
        async for _ in outbox:
            pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(microphone)
        nursery.start_soon(sender)
        thread = threading.Thread(target=audio_thread)
        thread.start()
        await trio.sleep(1.0)
        before, started = os.times(), time.monotonic()
        await trio.sleep(seconds)
        after = os.times()
        print((after.user + after.system - before.user - before.system) / (time.monotonic() - started) * 100)
        stop.set()
        thread.join()
        nursery.cancel_scope.cancel()

trio.run(main, float(sys.argv[1]))
"""


def measure(code: str, env: dict[str, str]) -> float:
    result = subprocess.run([sys.executable, "-c", code, str(SECONDS)], env=env, capture_output=True,
                            text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    with PulseServer() as pulse:
        stream = measure(INPUT_STREAM, pulse.env)
    hops = measure(TRIO_HOPS, dict(os.environ))
    lines = [
        f"listening CPU floor, {time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}, {SECONDS} s each",
        f"PortAudio input stream, 20 ms periods, empty callback:  {stream:.2f} % of one core",
        f"trio woken every 20 ms, frame through two channels:     {hops:.2f} % of one core",
        f"together, before any work of voiced's own:              {stream + hops:.2f} % of one core",
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
