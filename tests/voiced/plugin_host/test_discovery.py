"""Finding plugins: bundled, drop-in files, entry points; disabling; handing over config."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.voiced.plugin_host.fakes import make_host
from voiced.config import PluginsConfig, Settings

HELLO = """
    from voiced import hookimpl

    @hookimpl
    def voiced_event(event):
        pass
"""


def test_a_drop_in_file_is_loaded(tmp_path: Path) -> None:
    host, _ = make_host(tmp_path, {"hello": HELLO, "_private": "raise ImportError"})
    host.load()
    [status] = host.status()
    assert status["name"] == "hello"
    assert status["source"] == "drop-in"
    assert status["location"] == str(tmp_path / "dropins" / "hello.py")
    assert status["hooks"] == ["voiced_event"]
    assert status["status"] == "enabled"


@pytest.fixture
def installed_distribution(tmp_path: Path) -> Iterator[str]:
    """A distribution with an entry point in group `voiced`, on a temporary sys.path entry."""
    site = tmp_path / "site"
    info = site / "voiced_greeter-1.2.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: voiced-greeter\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text("[voiced]\ngreeter = voiced_greeter_plugin\n")
    (site / "voiced_greeter_plugin.py").write_text(textwrap.dedent(HELLO))
    sys.path.insert(0, str(site))
    try:
        yield "greeter"
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("voiced_greeter_plugin", None)


def test_an_entry_point_plugin_is_loaded(tmp_path: Path, installed_distribution: str) -> None:
    host, _ = make_host(tmp_path)
    host.load()
    record = host.records[installed_distribution]
    assert (record.source, record.location, record.status) == ("entry point", "voiced-greeter 1.2", "enabled")
    assert record.hooks == ["voiced_event"]


def test_disabled_plugins_are_not_imported(tmp_path: Path, installed_distribution: str) -> None:
    settings = Settings(plugins=PluginsConfig(disabled=["boom", "greeter"], off={"enabled": False}))
    host, _ = make_host(tmp_path, {"boom": "raise SystemExit('imported')", "off": "raise ImportError"},
                        settings=settings)
    host.load()
    assert {s["name"]: (s["status"], s["last_error"]) for s in host.status()} == {
        "boom": ("disabled", None), "greeter": ("disabled", None), "off": ("disabled", None)}
    assert "voiced_greeter_plugin" not in sys.modules
    assert not host.pm.get_plugins()


def test_bundled_plugins_load_with_default_config(tmp_path: Path) -> None:
    host, _ = make_host(tmp_path, bundled=True)
    host.load()
    statuses = {s["name"]: (s["source"], s["status"]) for s in host.status()}
    for name in ("clock", "exec_hooks", "goodbye", "history", "recorder", "transcript_log"):
        assert statuses[name] == ("bundled", "enabled")


def test_a_drop_in_replaces_a_bundled_plugin_of_the_same_name(tmp_path: Path) -> None:
    host, _ = make_host(tmp_path, {"goodbye": HELLO}, bundled=True)
    host.load()
    assert host.records["goodbye"].source == "drop-in"


def test_a_plugin_gets_its_validated_config(tmp_path: Path) -> None:
    source = """
        from pydantic import BaseModel
        from voiced import hookimpl

        class Config(BaseModel):
            greeting: str = "hello"
            times: int = 1

        config = Config()
    """
    settings = Settings(plugins=PluginsConfig(greet={"times": "3"}, raw={"a": 1}))
    host, _ = make_host(tmp_path, {"greet": source, "raw": "x = 1"}, settings=settings)
    host.load()
    assert host.records["greet"].plugin.config.model_dump() == {"greeting": "hello", "times": 3}
    assert host.records["raw"].plugin.config == {"a": 1}


def test_a_bad_config_table_fails_that_plugin_only(tmp_path: Path) -> None:
    source = """
        from pydantic import BaseModel, ConfigDict
        from voiced import hookimpl

        class Config(BaseModel):
            model_config = ConfigDict(extra="forbid")
            times: int = 1

        @hookimpl
        def voiced_event(event):
            pass
    """
    settings = Settings(plugins=PluginsConfig(greet={"times": "many"}))
    host, _ = make_host(tmp_path, {"greet": source, "hello": HELLO}, settings=settings)
    host.load()
    greet = host.records["greet"]
    assert greet.status == "failed config"
    assert str(greet.last_error).startswith("invalid configuration: plugins.greet.times")
    assert host.records["hello"].status == "enabled"
    assert [host.pm.get_name(p) for p in host.pm.get_plugins()] == ["hello"]


def test_import_errors_and_unknown_hooks_are_reported(tmp_path: Path) -> None:
    host, _ = make_host(tmp_path, {
        "broken": "import no_such_module_here",
        "typo": "from voiced import hookimpl\n@hookimpl\ndef voiced_evnt(event):\n    pass\n",
        "hello": HELLO,
    })
    host.load()
    status = {s["name"]: (s["status"], s["last_error"]) for s in host.status()}
    assert status["broken"] == (
        "failed to load", "ModuleNotFoundError: No module named 'no_such_module_here'")
    assert status["typo"] == ("failed to load", "unknown hook voiced_evnt")
    assert status["hello"] == ("enabled", None)
