"""What listening costs before voiced does any work of its own: the CPU floor.

Measurements, each in a fresh process, over the same kind of PulseAudio null device the
suite uses:
- PortAudio's input stream with a callback that does nothing, at 20 and 40 ms periods;
- trio woken from a thread (`run_sync_soon`, as the capture callback does) with a frame
  passed through two memory channels (capture -> microphone task -> sender), every
  20 ms (each period of a 20 ms stream) and every 200 ms (quiet audio in batches).

They show where listening's CPU goes on this machine, and why voiced captures at 40 ms
and hands quiet audio to trio in batches (`voiced.audio.capture`); voiced's own share
is what `bench/realtime.py` measures above it. Run:
`.venv/bin/python bench/listening_floor.py`; results go to
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
period = 24 * int(sys.argv[2])  # frames at 24 kHz
stream = pa.open(format=pyaudio.paInt16, channels=1, rate=24000, input=True, frames_per_buffer=period,
                 stream_callback=lambda *a: (None, pyaudio.paContinue))
time.sleep(1.0)
before, started = os.times(), time.monotonic()
time.sleep(float(sys.argv[1]))
after = os.times()
print((after.user + after.system - before.user - before.system) / (time.monotonic() - started) * 100)
"""

TRIO_HOPS = """
import os, sys, threading, time, trio

async def main(seconds, every_s):
    token = trio.lowlevel.current_trio_token()
    frames_in, frames = trio.open_memory_channel(100)
    outbox_in, outbox = trio.open_memory_channel(100)
    stop = threading.Event()

    def audio_thread():
        frame = bytes(960)
        while not stop.wait(every_s):
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

trio.run(main, float(sys.argv[1]), int(sys.argv[2]) / 1000)
"""


def measure(code: str, ms: int, env: dict[str, str]) -> float:
    result = subprocess.run([sys.executable, "-c", code, str(SECONDS), str(ms)], env=env, capture_output=True,
                            text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    with PulseServer() as pulse:
        stream = {ms: measure(INPUT_STREAM, ms, pulse.env) for ms in (20, 40)}
    hops = {ms: measure(TRIO_HOPS, ms, dict(os.environ)) for ms in (20, 200)}
    lines = [
        f"listening CPU floor, {time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}, {SECONDS} s each",
        f"PortAudio input stream, 20 ms periods, empty callback:  {stream[20]:.2f} % of one core",
        f"PortAudio input stream, 40 ms periods, empty callback:  {stream[40]:.2f} % of one core",
        f"trio woken every 20 ms, frame through two channels:     {hops[20]:.2f} % of one core",
        f"trio woken every 200 ms, frame through two channels:    {hops[200]:.2f} % of one core",
        f"20 ms periods, each handed to trio (voiced before):     {stream[20] + hops[20]:.2f} % of one core",
        f"40 ms periods, quiet ones in 200 ms batches (voiced):   {stream[40] + hops[200]:.2f} % of one core",
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
