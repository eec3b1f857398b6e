"""The demo that runs anywhere: voiced on virtual devices, when there is no sound to use.

`python -m voiced.demo` starts `voiced --simulate` with a bundled spoken question
(`question.wav`, made with espeak-ng) as the microphone and a WAV file as the speaker,
prints the conversation's transcript as it happens and where the answer's WAV is, then
stops it. `python -m voiced.demo --check` says (by its exit status) whether voiced has a
microphone and a speaker (PortAudio's, or virtual ones in its configuration), which is
what `scripts/run.sh` asks to choose between voiced as configured and this demo.
"""

from __future__ import annotations

from pathlib import Path

QUESTION = Path(__file__).with_name("question.wav")
""""Hello! What is the weather like in Paris today?", 16 kHz mono. It plays from the moment
voiced opens its microphone, which is before the session is up: a second and a half of
quiet first leaves a slow machine time to connect, and half a second after it ends the turn."""
