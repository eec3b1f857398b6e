"""Shell completion for voicectl in a real bash: the script `--show-completion bash` prints,
and the one `--install-completion bash` installs, complete commands, subcommands and values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
COMPLETE = """
COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - {back} ))
_voicectl_completion voicectl
printf '%s\\n' "${{COMPREPLY[@]}}"
"""


def bash(script: str, home: Path) -> list[str]:
    env = {**os.environ, "HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize(("words", "back", "expected"), [
    ("voicectl pa", 1, ["pause"]),
    ("voicectl con", 1, ["config"]),
    ("voicectl config s", 1, ["set", "show"]),
    ("voicectl wait --state spe", 1, ["speaking"]),
    ("voicectl wait --state ''", 1, ["connecting", "standby", "listening", "user_speaking", "thinking",
                                     "speaking", "paused", "error"]),
])
def test_the_shown_bash_script_completes(tmp_path: Path, words: str, back: int, expected: list[str]) -> None:
    script = 'eval "$(voicectl --show-completion bash)"' + COMPLETE.format(words=words, back=back)
    assert sorted(bash(script, tmp_path)) == sorted(expected)


def test_the_installed_bash_script_completes(tmp_path: Path) -> None:
    said = bash("voicectl --install-completion bash", tmp_path)
    assert said[0] == "bash completion installed in " + str(tmp_path / ".bash_completions" / "voicectl.sh")
    script = "source ~/.bashrc" + COMPLETE.format(words="voicectl res", back=1)
    assert sorted(bash(script, tmp_path)) == ["restart", "resume"]
