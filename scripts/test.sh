#!/usr/bin/env bash
# Set up (system packages, venv) and run the whole test suite, as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/mypy  # what it checks and how: [tool.mypy] in pyproject.toml
.venv/bin/python -m pip install -q -e ".[docs]"  # tests/docs builds the site (warnings are errors)
exec .venv/bin/python -m pytest "$@"
