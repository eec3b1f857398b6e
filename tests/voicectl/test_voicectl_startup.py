"""The fast path stays fast: answering ``status`` imports none of the heavy packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import voicectl

HEAVY = ("voiced", "trio", "pydantic", "typer", "rich", "click", "pathlib", "tomllib")

PROBE = f"""
import json, sys
from voicectl.__main__ import main
code = main(sys.argv[1:])
loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({HEAVY!r}))
print(json.dumps({{"code": code, "heavy": loaded}}), file=sys.stderr)
"""


def run_probe(env: dict[str, str], *args: str) -> dict[str, Any]:
    # -S: without site, so the editable install's import hook (it loads pathlib) does not
    # count; the package is then found through its folder.
    source_root = os.path.dirname(os.path.dirname(voicectl.__file__))
    setup = f"import sys; sys.path[:0] = {[source_root, *sys.path]!r}\n"
    result = subprocess.run(
        [sys.executable, "-S", "-c", setup + PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    return json.loads(result.stderr.splitlines()[-1])


def test_status_imports_nothing_heavy(daemon: Any, env: dict[str, str]) -> None:
    for args in (("status",), ("status", "--json"), ("call", "echo", '{"text": "x"}')):
        assert run_probe(env, *args) == {"code": 0, "heavy": []}


def test_the_other_fast_commands_import_nothing_heavy(daemon: Any, env: dict[str, str]) -> None:
    # The stand-in daemon lacks most of these methods (exit 2); what counts is the imports.
    for args in (
        ("say", "hi"),
        ("restart",),
        ("usage", "--json"),
        ("talk", "start"),
        ("talk", "--for", "1"),
        ("events", "state"),
        ("events", "--follow", "--json"),
        ("wait", "--state", "listening", "--timeout", "1"),
        ("history", "weather", "--limit", "2"),
    ):
        assert run_probe(env, *args)["heavy"] == [], args


def test_not_running_imports_nothing_heavy(env: dict[str, str]) -> None:
    assert run_probe(env, "status") == {"code": 3, "heavy": []}


def test_the_probe_does_see_heavy_imports(env: dict[str, str]) -> None:
    assert "typer" in run_probe(env, "--help")["heavy"]
