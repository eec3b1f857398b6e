#!/usr/bin/env bash
# Set up (system packages, venv) and run the whole test suite, as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/mypy  # what it checks and how: [tool.mypy] in pyproject.toml
.venv/bin/python -m pip install -q -e ".[docs]"  # tests/docs builds the site (warnings are errors)
if [ $# -gt 0 ]; then
    exec .venv/bin/python -m pytest "$@"
fi
# Two runs: the tests without the sound server in parallel, then the audio tests alone,
# one at a time, as they are timed against a real sound server (tests/conftest.py).
status=0
.venv/bin/python -m pytest -m "not audio" || status=$?
.venv/bin/python -m pytest -m audio || status=$?
exit "$status"
