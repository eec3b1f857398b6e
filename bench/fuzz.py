"""Run the fuzz properties long: the suite's quick profile, with many more fresh examples.

The properties are the suite's own (tests/voiced/conversation/test_fuzz_core.py,
tests/voiced/realtime/test_fuzz_protocol.py, tests/voiced/control/test_fuzz_jsonrpc.py),
run through pytest with ``VOICED_FUZZ_EXAMPLES`` set, so each runs that many examples
(the conversation's state machine that many runs of up to 50 steps), randomly seeded.
Counts every example each property ran and every failure it found.

Run: `.venv/bin/python bench/fuzz.py [--examples 8000]`; results go to
bench/results/fuzz.json (and a summary is printed). Target: at least 100,000 examples,
no failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.metadata
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "fuzz.json"
TEST_FILES = [
    "tests/voiced/conversation/test_fuzz_core.py",
    "tests/voiced/realtime/test_fuzz_protocol.py",
    "tests/voiced/control/test_fuzz_jsonrpc.py",
]
TARGET_EXAMPLES = 100_000


class ExampleCounter:
    """A pytest plugin: counts the examples each property runs and keeps its failures.

    An example is one call of a property's inner test (hypothesis lets plugins wrap it)
    or one run of a state machine. A failing property's count includes its shrinking.
    """

    def __init__(self) -> None:
        self.examples = 0
        self.properties: dict[str, dict[str, Any]] = {}
        self.failures: dict[str, str] = {}

    def _counted(self, run: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(run)
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.examples += 1
            return run(*args, **kwargs)

        return counted

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Imported once pytest has loaded hypothesis' plugin (importing it earlier warns).
        from hypothesis.stateful import RuleBasedStateMachine

        for item in items:
            handle = getattr(getattr(item, "obj", None), "hypothesis", None)
            if handle is not None:
                handle.inner_test = self._counted(handle.inner_test)
        modules = {module for item in items if (module := getattr(item, "module", None)) is not None}
        for module in modules:
            for value in list(vars(module).values()):
                if (isinstance(value, type) and issubclass(value, RuleBasedStateMachine)
                        and value.__module__ == module.__name__):
                    value.__init__ = self._counted(value.__init__)  # type: ignore[method-assign]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        before, started = self.examples, time.monotonic()
        yield
        if self.examples > before:
            self.properties[item.nodeid] = {"examples": self.examples - before,
                                            "seconds": round(time.monotonic() - started, 1)}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failures[report.nodeid] = _summary(report.longreprtext)


def _summary(text: str, limit: int = 2000) -> str:
    """The error and the falsifying example of a failure report, not the whole traceback."""
    lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    return "\n".join(lines)[:limit] or text[-limit:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=8000, help="examples per property")
    args = parser.parse_args()
    os.environ["VOICED_FUZZ_EXAMPLES"] = str(args.examples)  # read by tests.support.fuzzing
    logging.disable(logging.CRITICAL)  # the code under test logs every message it drops
    os.chdir(ROOT)
    counter = ExampleCounter()
    started = time.monotonic()
    exit_code = pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:logging", *TEST_FILES],
                            plugins=[counter])
    seconds = time.monotonic() - started

    total = sum(p["examples"] for p in counter.properties.values())
    properties = [{"name": name, **found, "failures": [counter.failures[name]] if name in counter.failures
                   else []} for name, found in counter.properties.items()]
    other_failures = {name: text for name, text in counter.failures.items() if name not in counter.properties}
    result = {
        "date": dt.datetime.now().isoformat(timespec="minutes"),
        "host": f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                f"hypothesis {importlib.metadata.version('hypothesis')}",
        "examples_per_property": args.examples,
        "total_examples": total,
        "target_examples": TARGET_EXAMPLES,
        "failures": len(counter.failures),
        "seconds": round(seconds),
        "properties": properties,
        "other_failures": other_failures,
        "pytest_exit_code": int(exit_code),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\nfuzz, {result['date']}, {result['host']}")
    for found in properties:
        status = "FAILED" if found["failures"] else "ok"
        print(f"{found['examples']:>8}  {found['seconds']:>7.1f} s  {status:<6}  {found['name']}")
    met = total >= TARGET_EXAMPLES and not counter.failures
    print(f"{total} examples in {seconds:.0f} s, {len(counter.failures)} failures; target "
          f"{TARGET_EXAMPLES:,} examples and no failure: {'met' if met else 'MISSED'}")
    print(f"results in {RESULTS.relative_to(ROOT)}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
