"""``voicectl doctor`` on a machine without a sound server: the report, and nothing of
ALSA's or JACK's, reaches the terminal; virtual devices pass their checks there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.headless import no_sound_server
from tests.support.signals import save_wav, tone

VOICECTL = str(Path(sys.executable).parent / "voicectl")


def doctor(tmp_path: Path, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "config.toml").write_text(config)
    env = {**no_sound_server(tmp_path), "VOICED_CONFIG": str(tmp_path / "config.toml"),
           "VOICED_API__BASE_URL": "http://127.0.0.1:9/v1"}
    return subprocess.run([VOICECTL, "doctor", *args], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_doctor_without_a_sound_server_prints_its_report_only(tmp_path: Path) -> None:
    result = doctor(tmp_path, "")
    assert result.returncode == 1 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert all(line.startswith(("ok ", "FAIL ", " ")) for line in lines[:-1]), result.stdout
    assert lines[-1].endswith("checks failed")
    [input_device] = [line for line in lines if line.startswith("FAIL input device")]
    assert "no input device found (is a sound server running?)" in input_device


def test_virtual_devices_pass_the_device_checks_without_a_sound_server(tmp_path: Path) -> None:
    save_wav(tmp_path / "question.wav", tone(0.5), 16_000)
    config = (f'[audio]\ninput_device = "file:{tmp_path}/question.wav"\n'
              f'output_device = "file:{tmp_path}/answer.wav"\n')
    report = json.loads(doctor(tmp_path, config, "--json").stdout)
    checks = {check["check"]: check for check in report["checks"]}
    assert checks["input device"]["ok"], checks["input device"]
    assert f"'file:{tmp_path}/question.wav'" in checks["input device"]["detail"]
    assert "opens at 16000 Hz" in checks["input device"]["detail"]
    assert checks["output device"]["ok"], checks["output device"]
    assert "opens at 24000 Hz" in checks["output device"]["detail"]
    assert not checks["sound server"]["ok"]
