"""Benchmark the audio path on the simulator through PulseAudio null devices.

Measures what voiced itself adds and controls:
- mic frame -> wire: from the capture callback to the append leaving the WebSocket;
- delta -> device: from the first audio delta of an answer to its first sample handed
  to the output callback (both measured inside the daemon, reported by `status`);
- barge-in: from the simulator sending `speech_started` to the speaker sink going
  silent (measured on the speaker sink's monitor), and how far the truncate's
  `audio_end_ms` is from what the monitor heard;
- CPU while listening: the daemon's user+system time over a quiet stretch, and over a
  stretch of steady hiss near a voice's level (see `voiced.audio.capture`).

Run: `.venv/bin/python bench/realtime.py [--barge-ins 10] [--listen-s 20]`; results go
to bench/results/realtime.txt (and are printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env, wait_for  # noqa: E402
from tests.support.pulse import PulseServer  # noqa: E402
from tests.support.signals import active_spans, energy_envelope, silence, speak  # noqa: E402
from voiced.pcm import WIRE_RATE as RATE  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "realtime.txt"
LISTEN_WINDOWS = 4
"""The listening stretch is measured in this many windows, to show how steady it is."""
SPAN_RESOLUTION_MS = 2
"""How finely what the speaker played is measured; at 10 ms the truncate error reads as
10 ms whatever it is, since both ends of the span round to a window."""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listening_cpu(daemon: DaemonProcess, seconds: float) -> tuple[float, float, list[float]]:
    """The daemon's CPU (% of a core) over `seconds`, how often it handed microphone audio
    to trio (a second), and the CPU of each of `LISTEN_WINDOWS` windows."""
    batches = daemon.status()["devices"]["capture_batches"]
    windows = []
    for _ in range(LISTEN_WINDOWS):
        before, started = cpu_seconds(daemon.process.pid), time.monotonic()
        time.sleep(seconds / LISTEN_WINDOWS)
        windows.append((cpu_seconds(daemon.process.pid) - before) / (time.monotonic() - started) * 100)
    handed = (daemon.status()["devices"]["capture_batches"] - batches) / seconds
    return statistics.fmean(windows), handed, windows


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms (n={len(ordered)})"


def silent_from(pcm: np.ndarray, start: int, until: int, threshold_dbfs: float = -45.0) -> int | None:
    """The first sample index at or after `start` from which the audio stays quiet up to `until`."""
    window = RATE // 200  # 5 ms
    envelope = energy_envelope(pcm[start:until], RATE, window_ms=5)
    loud = np.nonzero(envelope > threshold_dbfs)[0]
    if len(loud) == 0:
        return start
    return start + (int(loud[-1]) + 1) * window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--barge-ins", type=int, default=10)
    parser.add_argument("--listen-s", type=float, default=20.0)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="voiced-bench-"))
    script = {"turns": [{"transcript": f"question {i}", "response": {
        "text": "A long answer that goes on and on.", "audio": {"tone_s": 6.0, "freq": 330}}}
        for i in range(args.barge_ins + 2)]}
    question = speak("Hello there. Tell me a story please.", rate=RATE)
    stop = speak("Stop, stop.", rate=RATE)
    with PulseServer() as pulse:
        simulator = SimulatorProcess(folder, script)
        env = {**daemon_env(pulse.env, simulator), "VOICED_LOGGING__LEVEL": "info"}
        daemon = DaemonProcess(folder, env)
        try:
            time.sleep(2.0)
            cpu, wakeups, windows = listening_cpu(daemon, args.listen_s)
            hiss = (np.random.default_rng(1).standard_normal(round(RATE * (args.listen_s + 12))) * 180)
            noise = pulse.play_into_mic(hiss.astype(np.int16))  # about -45 dBFS, near a voice's level
            time.sleep(10.0)  # for the capture to learn the room's noise floor
            noisy_cpu, noisy_wakeups, _ = listening_cpu(daemon, args.listen_s)
            noise.wait(10)

            speaker = pulse.record_speaker()
            speaker.wait_for_data()
            pulse.play_into_mic(np.concatenate([question, silence(0.8)])).wait(15)
            to_silence, truncate_error, onset = [], [], []
            for _ in range(args.barge_ins):
                daemon.wait_state("speaking", timeout=20)
                time.sleep(random.uniform(0.8, 1.6))
                truncates = len(simulator.received("conversation.item.truncate"))
                pulse.play_into_mic(stop).wait(5)
                wait_for(lambda n=truncates: len(simulator.received("conversation.item.truncate")) > n,
                         5, "a truncate")
                time.sleep(0.5)
            daemon.wait_state("speaking", timeout=20)
            time.sleep(0.5)
            recording = speaker.stop()
            status = daemon.status()
        finally:
            daemon.terminate()
            simulator.stop()

        # Pair each truncate with the speech_started before it and the answer it cut.
        started_at = [r["t"] for r in simulator.sent("input_audio_buffer.speech_started")]
        created_at = [r["t"] for r in simulator.sent("response.created")]
        for record in simulator.received("conversation.item.truncate"):
            speech = max(t for t in started_at if t <= record["t"])
            answer = max(t for t in created_at if t <= speech)
            following = [t for t in created_at if t > speech] or [time.time()]
            begin = speaker.sample_index_at(answer)
            cut = speaker.sample_index_at(speech)
            end = min(speaker.sample_index_at(following[0]), len(recording))
            quiet = silent_from(recording, cut, end)
            if quiet is None:
                continue
            to_silence.append((speaker.local_wall_time_of(quiet) - speech) * 1000)
            spans = active_spans(recording[begin:quiet + RATE // 100], RATE, window_ms=SPAN_RESOLUTION_MS)
            if spans:
                heard_ms = (spans[-1][1] - spans[0][0]) * 1000
                truncate_error.append(abs(record["event"]["audio_end_ms"] - heard_ms))
                onset.append((speaker.local_wall_time_of(begin + spans[0][0] * RATE) - answer) * 1000)

    audio_path = status["audio_path"]
    lines = [
        f"voiced audio path benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {platform.node()},"
        f" {os.cpu_count()} cores, Python {platform.python_version()}",
        "simulator over loopback; PulseAudio null sinks; PortAudio via ALSA's pulse plugin;"
        f" output latency reported {status['devices']['output_latency_ms']} ms",
        f"mic frame -> wire:            {_fmt(audio_path['mic_to_wire_ms'])}",
        f"first delta -> device:        {_fmt(audio_path['delta_to_device_ms'])}",
        f"speech_started -> silent:     {percentiles(to_silence)}",
        f"truncate vs heard (|error|):  {percentiles(truncate_error)}"
        f" (heard measured to {SPAN_RESOLUTION_MS} ms)",
        f"playback underruns:           {status['devices'].get('playback_underruns', 'n/a')}",
        f"CPU while listening:          {cpu:.2f} % of one core over {args.listen_s:g} s"
        f" (windows {', '.join(f'{w:.2f}' for w in windows)});"
        f" microphone audio handed to trio {wakeups:.1f} times a second",
        f"CPU with steady hiss at -45 dBFS: {noisy_cpu:.2f} % of one core over {args.listen_s:g} s;"
        f" microphone audio handed to trio {noisy_wakeups:.1f} times a second",
        "raw: " + json.dumps({"to_silence_ms": [round(v, 1) for v in to_silence],
                              "truncate_error_ms": [round(v, 1) for v in truncate_error],
                              "answer_onset_ms": [round(v, 1) for v in onset]}),
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _fmt(summary: dict | None) -> str:
    if not summary:
        return "n/a"
    return f"median {summary['p50']:.2f} ms, p95 {summary['p95']:.2f} ms (n={summary['n']})"


if __name__ == "__main__":
    main()
