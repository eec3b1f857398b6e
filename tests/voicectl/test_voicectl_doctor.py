"""``voicectl doctor`` against a real voiced, a real PulseAudio and a real (or absent) endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.processes import SECRET_KEY
from tests.support.pulse import PulseServer
from voicectl.doctor import Check, format_report, masked_key

CHECKS = [
    "config", "api key", "daemon", "sound server", "input device", "output device", "endpoint", "plugins"
]
UNREACHABLE = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["check"]: check for check in report["checks"]}


def lines_of(stdout: str) -> dict[str, str]:
    """Each report line by its check's name (the line's second and third words)."""
    found = {}
    for line in stdout.splitlines():
        words = line.split()
        if words and words[0] in ("ok", "FAIL"):
            for name in CHECKS:
                if line[5:].startswith(name):
                    found[name] = line
    return found


def test_doctor_with_a_running_daemon_passes(start_voiced: Any, pulse: PulseServer) -> None:
    voiced = start_voiced()
    started = time.monotonic()
    result = voiced.voicectl("doctor")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 8, f"doctor took {elapsed:.1f} s"
    # Nothing the test environment cannot provide is missing: every check passes.
    lines = lines_of(result.stdout)
    assert set(lines) == set(CHECKS), result.stdout
    assert all(line.startswith("ok ") for line in lines.values()), result.stdout
    assert result.stdout.rstrip().endswith("checks passed")
    assert SECRET_KEY not in result.stdout + result.stderr
    assert f"sk-...{SECRET_KEY[-4:]} (from OPENAI_API_KEY)" in lines["api key"]
    assert "state listening" in lines["daemon"] and str(voiced.socket) in lines["daemon"]
    assert "does not exist: built-in defaults" in lines["config"]
    assert "pulseaudio" in lines["sound server"].lower()
    # voiced holds both devices; through PulseAudio they still open here.
    assert "opens at 24000 Hz while voiced runs" in lines["input device"]
    assert "opens at 24000 Hz while voiced runs" in lines["output device"]
    assert voiced.simulator.base_url in lines["endpoint"] and "reachable (TCP" in lines["endpoint"]
    assert "as the running voiced reports them" in lines["plugins"]
    assert "goodbye" in lines["plugins"]
    # Opening the devices beside it did not disturb the daemon.
    assert voiced.daemon.try_state() == "listening"

    report = json.loads(voiced.voicectl("doctor", "--json").stdout)
    assert report["ok"] is True
    assert [c["check"] for c in report["checks"]] == CHECKS
    assert all(set(c) == {"check", "ok", "detail", "fix"} for c in report["checks"])


def test_doctor_without_daemon_or_network_fails_with_fixes(
    env: dict[str, str], home: Path, pulse: PulseServer
) -> None:
    plugins = home / "config" / "voiced" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "broken.py").write_text("raise RuntimeError('boom at import')\n")
    doctor_env = {k: v for k, v in env.items() if k != "OPENAI_API_KEY"}
    doctor_env.update(pulse.env_overrides, VOICED_API__BASE_URL=UNREACHABLE)

    def doctor(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "voicectl", "doctor", *args],
            capture_output=True, text=True, env=doctor_env, cwd=home, timeout=30,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    started = time.monotonic()
    result = doctor()
    assert time.monotonic() - started < 8
    assert result.returncode == 1
    assert result.stderr == ""
    text = result.stdout
    lines = lines_of(text)
    assert lines["daemon"].startswith("FAIL daemon") and "not running (no socket at" in lines["daemon"]
    assert lines["api key"].startswith("FAIL")
    assert "none (voiced --simulate works without one)" in lines["api key"]
    assert lines["endpoint"].startswith("FAIL") and "cannot connect to 127.0.0.1:9" in lines["endpoint"]
    # What the environment does provide passes.
    for name in ("config", "sound server", "input device", "output device", "plugins"):
        assert lines[name].startswith("ok "), lines[name]
    assert "imported here, not started" in lines["plugins"]
    assert "FAIL plugin broken" in text and "boom at import" in text
    # Every failure says what to do, on the line after it.
    rows = text.splitlines()
    for index, row in enumerate(rows):
        if row.startswith("FAIL"):
            assert rows[index + 1].lstrip().startswith("fix: "), row
    assert "fix: start it: voiced" in text
    assert "fix: export OPENAI_API_KEY=" in text
    assert "VOICED_API__BASE_URL" in text
    assert "plugins.broken.enabled false" in text
    assert rows[-1] == "4 of 9 checks failed"

    report = json.loads(doctor("--json").stdout)
    checks = by_name(report)
    assert report["ok"] is False
    failed = {name for name, check in checks.items() if not check["ok"]}
    assert failed == {"api key", "daemon", "endpoint", "plugin broken"}
    assert all(checks[name]["fix"] for name in failed)


def test_doctor_reports_a_broken_config_and_goes_on(voicectl: Any, home: Path) -> None:
    config = home / "config" / "voiced" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[audio]\necho = "loud"\n')
    result = voicectl("doctor", "--json")
    assert result.returncode == 1
    checks = by_name(json.loads(result.stdout))
    assert checks["config"]["ok"] is False
    assert "audio.echo" in checks["config"]["detail"]
    assert "voicectl config" in checks["config"]["fix"]
    assert {"daemon", "endpoint", "plugins"} <= set(checks)  # the rest still ran, on the defaults


def test_the_report_marks_checks_for_a_terminal_and_for_scripts() -> None:
    checks = [Check("config", True, "fine"), Check("daemon", False, "not running", "start it")]
    assert format_report(checks, fancy=True).splitlines() == [
        "✓ config  fine",
        "✗ daemon  not running",
        "          fix: start it",
        "1 of 2 checks failed",
    ]
    assert format_report(checks, fancy=False).splitlines()[:3] == [
        "ok   config  fine",
        "FAIL daemon  not running",
        "             fix: start it",
    ]


def test_the_key_is_never_shown_whole() -> None:
    assert masked_key("sk-proj-abcdefghijklmnop1234") == "sk-...1234"
    assert masked_key("other-kind-of-key-9876") == "...9876"
    assert masked_key("sk-short") == "********"
