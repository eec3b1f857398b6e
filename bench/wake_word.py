"""The offline wake word: false wakes over speech without it, hits with it, and its CPU.

espeak-ng speaks at least ten minutes of everyday sentences (five voices, three speeds,
none containing the wake word) into the bundled `wake_word` detector, frame by frame as
the microphone delivers them in standby, and counts the wakes. Then it speaks the wake
word followed by a request, in the same voices and speeds, and counts the misses. CPU is
the detector's process time over the audio's duration (resampling included).

Run: `.venv/bin/python bench/wake_word.py [--model okay_nabu] [--minutes 10]`; results go
to bench/results/wake_word.txt.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plugins.wake_word import WakeWord  # noqa: E402
from tests.support.signals import silence, speak  # noqa: E402
from voiced.pcm import WIRE_RATE  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "wake_word.txt"
FRAME_BYTES = WIRE_RATE // 25 * 2  # 40 ms, the capture period
VOICES = ["en-us", "en", "en-gb-x-rp", "en-us+f3", "en-us+m3"]
SPEEDS = [140, 165, 190]
PHRASES = {"okay_nabu": "okay nabu", "hey_jarvis": "hey jarvis", "hey_mycroft": "hey mycroft",
           "alexa": "alexa"}

SUBJECTS = ["the kitchen light", "my sister", "the weather in Lisbon", "tomorrow's meeting",
            "the train to Berlin", "our neighbour's dog", "the oven timer", "the news",
            "a good book", "the garden", "this old laptop", "the football match"]
PREDICATES = ["is on again", "should be ready by noon", "looks better than yesterday",
              "was moved to Thursday", "needs a new battery", "keeps barking at night",
              "went off twice", "was mostly about the election", "takes about an hour",
              "could use some rain", "is running slowly", "ended in a draw"]
OPENERS = ["", "Okay, so ", "Hey, ", "Now, ", "I think ", "Do you know if ", "Apparently ",
           "By the way, ", "Honestly, ", "Hello there, "]


def sentences() -> itertools.cycle[str]:
    """Everyday sentences, cycling through every opener, subject and predicate."""
    made = [f"{opener}{subject} {predicate}."
            for opener, subject, predicate in itertools.product(OPENERS, SUBJECTS, PREDICATES)]
    np.random.default_rng(7).shuffle(made)
    return itertools.cycle(made)


def wakes(detector: WakeWord, pcm: np.ndarray) -> tuple[int, float]:
    """How many times the detector fired over `pcm`, and the CPU seconds it took."""
    data, fired = pcm.tobytes(), 0
    started = time.process_time()
    for offset in range(0, len(data), FRAME_BYTES):
        fired += detector.feed(data[offset:offset + FRAME_BYTES])
    return fired, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="okay_nabu", choices=sorted(PHRASES))
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()

    detector = WakeWord(args.model)
    voices = itertools.cycle(itertools.product(VOICES, SPEEDS))
    speech_s = cpu_s = 0.0
    false_wakes, utterances = 0, 0
    for text in sentences():
        if speech_s >= args.minutes * 60:
            break
        voice, speed = next(voices)
        pcm = np.concatenate([speak(text, voice=voice, words_per_minute=speed), silence(0.3)])
        fired, took = wakes(detector, pcm)
        false_wakes += fired
        speech_s += len(pcm) / WIRE_RATE
        cpu_s += took
        utterances += 1
        if fired:
            print(f"false wake: {voice} {speed} wpm: {text!r}")

    requests = ["what time is it", "turn off the kitchen light", "what is the weather like"]
    trials = hits = 0
    for (voice, speed), request in itertools.product(itertools.product(VOICES, SPEEDS), requests):
        detector = WakeWord(args.model)
        pcm = np.concatenate([silence(0.5), speak(f"{PHRASES[args.model]}, {request}", voice=voice,
                                                  words_per_minute=speed), silence(0.5)])
        trials += 1
        hits += wakes(detector, pcm)[0] > 0

    hours = speech_s / 3600
    lines = [
        f"wake word benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, "
        f"{platform.processor() or platform.machine()}",
        f"model {args.model}, threshold {detector.model.probability_cutoff}",
        f"speech without the wake word: {speech_s / 60:.1f} min in {utterances} utterances "
        f"({len(VOICES)} espeak-ng voices x {len(SPEEDS)} speeds)",
        f"false wakes: {false_wakes} ({false_wakes / hours:.1f} per hour of speech)",
        f"the wake word then a request: heard in {hits} of {trials} ({hits / trials:.0%})",
        f"CPU: {cpu_s / speech_s * 100:.2f} % of a core (detector and resampling, per second of audio)",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
