"""examples/ask.py, run as a user runs it, against the simulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.processes import SimulatorProcess

EXAMPLE = Path(__file__).parents[2] / "examples" / "ask.py"


def test_ask_prints_the_answers_transcript(simulator: SimulatorProcess) -> None:
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    done = subprocess.run([sys.executable, str(EXAMPLE), "What is the tallest mountain?",
                           "--base-url", simulator.base_url],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()  # the simulator answers with the question's words
    assert "tallest mountain" in done.stdout.lower()
    assert simulator.received("conversation.item.create")
