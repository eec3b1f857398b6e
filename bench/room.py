"""The room: voiced on speakers, its own answers coming back into the microphone.

A private PulseAudio (tests/support/pulse.py): the daemon plays into the ``voiced_speaker``
null sink and listens to the ``voiced_mic`` one; `module-loopback` plays the speaker's
monitor into the microphone 40 ms later at a level set so that the echo is as loud as
the user's voice (0 dB) or 6 dB louder (+6 dB); the user is espeak-ng, played into the
microphone; the server is the simulator, answering with a 440 Hz tone or with speech.
For each echo mode and case, a freshly started daemon (the canceller starts cold, and
its first answer counts like the others):

- answers the user does not talk over (half as many): every ``speech_started`` the
  simulator sends is a self-interruption (the assistant heard itself);
- answers the user talks over, ~0.8-1.4 s in: barge-in latency, from the voice's first
  loud sample to the simulator's ``speech_started``; within 300 ms counts as a hit; a
  ``speech_started`` before the voice is a self-interruption too. The answer to the
  user's words is interrupted (`interrupt`) before the next trial;
- convergence: the loud time that reached the server during each answer the user did
  not talk over (echo that leaked), first answer against the rest.

Answers are a 2.5 s tone or a 4 s spoken sentence. Run:
`.venv/bin/python bench/room.py [--modes gate aec] [--answers 20]`; results go to
bench/results/room.json and a table is printed.
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env, wait_for  # noqa: E402
from tests.support.pulse import PulseServer  # noqa: E402
from tests.support.signals import active_spans, save_wav, silence, speak  # noqa: E402
from voiced.pcm import WIRE_RATE as RATE  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "room.json"
TONE_DBFS = 20 * np.log10(0.25 / np.sqrt(2))  # the simulator's tone (amplitude 0.25)
ANSWER_TEXT = "Sure. The weather today is mild and sunny, with a light breeze from the sea."
USER_TEXT = "Stop, stop! Wait a moment please."
HIT_S = 0.3
REFERENCE = ("the agents SDK's CLI realtime demo, no echo path at all: "
             "1 of 3 spoken barge-ins got through")


def speech_level(pcm: np.ndarray) -> float:
    """The RMS level of the loud parts (10 ms windows over -45 dBFS), dBFS."""
    windows = pcm[: len(pcm) // 240 * 240].reshape(-1, 240).astype(np.float64) / 32768
    rms = np.sqrt(np.mean(windows**2, axis=1))
    loud = rms[20 * np.log10(np.maximum(rms, 1e-9)) > -45]
    return float(20 * np.log10(np.sqrt(np.mean(loud**2))))


def loud_time(pcm: np.ndarray) -> float:
    return sum(end - start for start, end in active_spans(pcm, RATE, min_gap_ms=0))


class Log:
    """The simulator's event log, read incrementally (it grows by 25 appends a second)."""

    def __init__(self, path: Path) -> None:
        self.path, self._offset = path, 0
        self.started: list[float] = []
        self.done = 0
        self.appends: list[tuple[float, np.ndarray]] = []

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            record = json.loads(line)
            kind = record["event"].get("type")
            if record.get("dir") == "out" and kind == "input_audio_buffer.speech_started":
                self.started.append(record["t"])
            elif record.get("dir") == "out" and kind == "response.done":
                self.done += 1
            elif record.get("dir") == "in" and kind == "input_audio_buffer.append":
                audio = np.frombuffer(base64.b64decode(record["event"]["audio"]), dtype=np.int16)
                self.appends.append((record["t"], audio))

    def responses_done(self) -> int:
        self.poll()
        return self.done

    def started_between(self, start: float, end: float) -> list[float]:
        self.poll()
        return [t for t in self.started if start <= t < end]

    def sent_between(self, start: float, end: float) -> np.ndarray:
        self.poll()
        chunks = [pcm for t, pcm in self.appends if start <= t < end]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def answered(log: Log, before: int) -> bool:
    return log.responses_done() > before


def settle(daemon: DaemonProcess, log: Log, timeout: float = 30.0) -> None:
    """Wait until nothing plays and nothing is being answered, for half a second; the
    assistant answering its own echo over and over is interrupted every 5 s."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    nudge = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = daemon.status()
        if time.monotonic() > nudge:
            daemon.rpc("interrupt")
            nudge = time.monotonic() + 5
        busy = status["state"] != "listening" or status["devices"]["playback_queued_ms"] > 0
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.4:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the daemon did not settle: {daemon.status()}")


def run_case(pulse: PulseServer, folder: Path, mode: str, answer: str, ratio_db: float, answers: int,
             user: np.ndarray, answer_wav: Path, answer_db: float) -> dict[str, Any]:
    user_db = speech_level(user)
    gain_db = user_db + ratio_db - answer_db
    audio: Any = {"tone_s": 2.5, "freq": 440} if answer == "tone" else str(answer_wav)
    script = {"turns": [{"response": {"text": ANSWER_TEXT, "audio": audio}} for _ in range(answers * 4)]}
    folder.mkdir(parents=True)
    simulator = SimulatorProcess(folder, script)
    daemon = None
    with pulse.echo_path(f"{gain_db:.1f}dB"):
        try:
            config = f'[audio]\necho = "{mode}"\n'
            daemon = DaemonProcess(folder, daemon_env(pulse.env, simulator), config=config)
            log = Log(simulator.event_log)
            quiet: list[dict[str, Any]] = []
            for _ in range(answers // 2):
                begin, done = time.time(), log.done
                daemon.rpc("say", {"text": "What is the weather like?"})
                wait_for(partial(answered, log, done), 20, "the answer")
                settle(daemon, log)
                end = time.time()
                quiet.append({"self_interruptions": len(log.started_between(begin, end)),
                              "echo_sent_ms": round(loud_time(log.sent_between(begin, end)) * 1000)})
            barge: list[dict[str, Any]] = []
            onset_in_user = active_spans(user, RATE)[0][0]
            rng = random.Random(7)
            for _ in range(answers):
                begin = time.time()
                daemon.rpc("say", {"text": "What is the weather like?"})
                daemon.wait_state("speaking", timeout=20)
                time.sleep(rng.uniform(0.8, 1.4))
                playing = pulse.play_into_mic(user)
                onset = playing.started_at + onset_in_user
                playing.wait(15)
                time.sleep(0.5)
                before = log.started_between(begin, onset - 0.05)
                after = log.started_between(onset - 0.05, onset + 2.0)
                barge.append({"self_interruptions": len(before),
                              "latency_ms": round((after[0] - onset) * 1000) if after else None})
                wait_for(lambda: daemon.status()["state"] in ("speaking", "listening"), 10,
                         "the answer to the user")
                daemon.rpc("interrupt")
                settle(daemon, log)
            echo = daemon.status()["devices"]["echo"]
        finally:
            if daemon is not None:
                daemon.terminate()
            simulator.stop()
    latencies = [b["latency_ms"] for b in barge if b["latency_ms"] is not None]
    leaks = [q["echo_sent_ms"] for q in quiet]
    return {
        "mode": mode, "answer": answer, "echo_to_voice_db": ratio_db, "loopback_gain_db": round(gain_db, 1),
        "answers": len(quiet) + len(barge),
        "self_interruptions": sum(t["self_interruptions"] for t in quiet + barge),
        "self_interruptions_first_answer": quiet[0]["self_interruptions"],
        "barge_in_trials": len(barge),
        "barge_in_within_300ms": round(sum(1 for ms in latencies if ms <= HIT_S * 1000) / len(barge), 3),
        "barge_in_missed": len(barge) - len(latencies),
        "barge_in_median_ms": statistics.median(latencies) if latencies else None,
        "echo_sent_ms_first_answer": leaks[0],
        "echo_sent_ms_later_median": statistics.median(leaks[1:]) if len(leaks) > 1 else None,
        "echo_status": echo,
        "trials": {"quiet": quiet, "barge_in": barge},
    }


def table(cases: list[dict[str, Any]]) -> str:
    lines = ["| mode | answer | echo/voice | self-interruptions | barge-in <= 300 ms | median | missed "
             "| echo sent, 1st answer / later (ms) |",
             "|---|---|---|---|---|---|---|---|"]
    for c in cases:
        lines.append(f"| {c['mode']} | {c['answer']} | {c['echo_to_voice_db']:+.0f} dB "
                     f"| {c['self_interruptions']} / {c['answers']} | {c['barge_in_within_300ms']:.0%} "
                     f"| {c['barge_in_median_ms']} ms | {c['barge_in_missed']} "
                     f"| {c['echo_sent_ms_first_answer']} / {c['echo_sent_ms_later_median']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", nargs="+", default=["gate", "aec"])
    parser.add_argument("--answers", type=int, default=20)
    parser.add_argument("--kinds", nargs="+", default=["tone", "speech"])
    parser.add_argument("--ratios", nargs="+", type=float, default=[0.0, 6.0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    user = np.concatenate([silence(0.05), speak(USER_TEXT, rate=RATE, voice="en-us+f3")])
    cases = []
    with tempfile.TemporaryDirectory(prefix="voiced-room-") as tmp, PulseServer() as pulse:
        answer_wav = Path(tmp) / "answer.wav"
        answer_pcm = speak(ANSWER_TEXT, rate=RATE)
        save_wav(answer_wav, answer_pcm)
        for mode in args.modes:
            for kind in args.kinds:
                for ratio in args.ratios:
                    level = TONE_DBFS if kind == "tone" else speech_level(answer_pcm)
                    folder = Path(tmp) / f"{mode}-{kind}-{ratio:+.0f}"
                    case = run_case(pulse, folder, mode, kind, ratio, args.answers, user, answer_wav, level)
                    cases.append(case)
                    print(table([case]).splitlines()[-1], flush=True)
                    write(args.out, cases)
    print(table(cases))


def write(path: Path, cases: list[dict[str, Any]]) -> None:
    result = {"when": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.node()}, Python "
              f"{platform.python_version()}", "target": {"self_interruptions": 0,
              "barge_in_within_300ms": {"0 dB": 0.95, "+6 dB": 0.90}}, "reference": REFERENCE,
              "cases": cases}
    path.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
