"""PortAudio's device scan on a machine without a sound card or a sound server: ALSA and
JACK complain at length, and none of it may reach the terminal or the log.

The premise is the suite's machine: no sound card (its ALSA configuration names PCMs
that do not exist) and, here, no sound server to reach.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.headless import no_sound_server
from tests.support.processes import DaemonProcess

VOICED = str(Path(sys.executable).parent / "voiced")
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING) +voiced[.\w]*: ")
ONE_LINE = "voiced: no input device found (is a sound server running?)\n"
SCAN = """
import logging
logging.basicConfig(level=logging.DEBUG, format="%(message)s")
from voiced.audio.devices import start_portaudio
pa, devices = start_portaudio()
pa.terminate()
print(len(devices))
"""


def test_a_device_scan_says_one_debug_line_of_what_alsa_and_jack_said(tmp_path: Path) -> None:
    scan = subprocess.run([sys.executable, "-c", SCAN], env=no_sound_server(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert scan.returncode == 0, scan.stderr
    assert scan.stdout == "0\n"
    [line] = scan.stderr.splitlines()
    assert re.fullmatch(r"PortAudio's device scan: \d+ ALSA messages hidden \(last: .+\)"
                        r"(; \d+ JACK messages? hidden \(last: .+\))?", line), line


def test_voiced_without_a_sound_server_says_one_line(tmp_path: Path) -> None:
    env = {**no_sound_server(tmp_path), "VOICED_LOGGING__LEVEL": "warning"}
    voiced = subprocess.run([VOICED, "--simulate"], env=env, capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert (voiced.returncode, voiced.stdout, voiced.stderr) == (1, "", ONE_LINE)


def test_voiced_without_a_sound_server_logs_only_its_own_lines_at_debug(tmp_path: Path) -> None:
    env = {**no_sound_server(tmp_path), "VOICED_LOGGING__LEVEL": "debug"}
    voiced = subprocess.run([VOICED, "--simulate"], env=env, capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    *logged, last = voiced.stderr.splitlines(keepends=True)
    assert last == ONE_LINE
    strangers = [line for line in logged if not LOG_LINE.match(line)]
    assert not strangers, f"not voiced's: {strangers[:5]}"
    assert any("PortAudio's device scan:" in line and "hidden" in line for line in logged)


@pytest.mark.live  # a real voiced, though not through the fixtures
def test_voicectl_devices_leaves_the_daemons_output_clean(tmp_path: Path) -> None:
    """A daemon on virtual devices runs without a sound server; `devices` scans PortAudio."""
    env = {**no_sound_server(tmp_path), "VOICED_LOGGING__LEVEL": "debug"}
    daemon = DaemonProcess(tmp_path, env, "--simulate",
                           config='[audio]\ninput_device = "null"\noutput_device = "null"\n')
    try:
        listed = daemon.voicectl("devices")
        assert listed.returncode == 0, listed.stderr
        assert listed.stderr == ""
    finally:
        assert daemon.terminate() == 0
    strangers = [line for line in daemon.stderr.splitlines() if not LOG_LINE.match(line)]
    assert not strangers, f"not voiced's: {strangers[:5]}"
    assert "PortAudio's device scan:" in daemon.stderr
