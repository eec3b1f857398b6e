"""Test modules rewritten for pytest's assertions once a run, not once a worker.

pytest rewrites each test module's asserts as it imports it and keeps the result beside
the module (`__pycache__`) for the next run, unless bytecode is not to be written
(PYTHONDONTWRITEBYTECODE, as on CI machines): then every worker of a parallel run
rewrites every module again, 1.3 s of CPU each. So the run's controller rewrites them
once into a folder of its own (never the source tree) before the workers start, and the
workers read them from there: pytest checks each file against its source's hash, and
rewrites for itself a module it does not find. This leans on two of pytest's private
functions; when they change, the workers rewrite for themselves, as before.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

VARIABLE = "VOICED_TESTS_REWRITTEN"
"""Where the controller put the rewritten modules (the workers inherit its environment)."""


def prepare(config: pytest.Config) -> None:
    """In the controller of a parallel run: rewrite the test modules into a folder."""
    try:
        from _pytest.assertion.rewrite import PYC_TAIL, _rewrite_test, _write_pyc, assertstate_key
        state = config.stash[assertstate_key]
    except (ImportError, KeyError):  # pytest changed, or --assert=plain
        return
    folder = Path(tempfile.mkdtemp(prefix="voiced-rewritten-"))
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    for path in sorted((config.rootpath / "tests").rglob("*.py")):
        if path.name.startswith("test_") or path.name == "conftest.py":
            try:
                source_hash, code = _rewrite_test(path, config)
            except Exception:  # a module that does not compile: its worker says so
                continue
            pyc = _cache_dir(folder, config.rootpath, path) / (path.name[:-3] + PYC_TAIL)
            pyc.parent.mkdir(parents=True, exist_ok=True)
            _write_pyc(state, code, source_hash, pyc)
    os.environ[VARIABLE] = str(folder)


def use(config: pytest.Config) -> None:
    """In a worker: read rewritten modules from the controller's folder."""
    if not (folder := os.environ.get(VARIABLE)):
        return
    import _pytest.assertion.rewrite as rewrite

    original = rewrite.get_cache_dir

    def get_cache_dir(file_path: Path) -> Path:
        if file_path.is_relative_to(config.rootpath):
            return _cache_dir(Path(folder), config.rootpath, file_path)
        return original(file_path)

    rewrite.get_cache_dir = get_cache_dir


def _cache_dir(folder: Path, root: Path, path: Path) -> Path:
    return folder / path.parent.relative_to(root)
