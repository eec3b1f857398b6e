"""The documentation site builds without a warning, and nothing is left out of it.

The guards fail when a hook, a control method, a configuration key or a Realtime event
type is added without appearing in the built pages.
"""

from __future__ import annotations

import html
import inspect
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import typer.main
from pydantic import BaseModel

from tests.support.headless import VIRTUAL_DEVICES, no_sound_server
from tests.support.processes import DaemonProcess
from voicectl.cli import app
from voiced.client import Session
from voiced.config import Settings
from voiced.plugin_host import hookspecs
from voiced.realtime.events import CLIENT_EVENT_TYPES, SERVER_EVENT_TYPES

DOCS = Path(__file__).parents[2] / "docs"
pytestmark = pytest.mark.long(3)  # the site takes 15 s to build, once for the module


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make -C docs html`'s build, into a folder of the test's own (warnings are errors)."""
    if shutil.which("make") is None:
        pytest.fail("make is missing: apt-get install make", pytrace=False)
    try:
        import sphinx  # noqa: F401
    except ImportError:
        pytest.fail('sphinx is missing: pip install -e ".[docs]"', pytrace=False)
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(["make", "-C", str(DOCS), "html", f"BUILDDIR={out}",
                            f"SPHINXBUILD={sys.executable} -m sphinx"],
                           capture_output=True, text=True, timeout=600, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    return out / "html"


def text_of(site: Path, page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", (site / page).read_text()))


def config_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key, a table of tables' as a pattern (`mcp\\.servers\\.[A-Z]+\\.command`)."""
    keys = []
    for name, field in model.model_fields.items():
        annotation, key = field.annotation, re.escape(f"{prefix}{name}")
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += config_keys(annotation, f"{prefix}{name}.")
            continue
        keys.append(key)
        entry = typing.get_args(annotation)[-1] if typing.get_origin(annotation) is dict else None
        if isinstance(entry, type) and issubclass(entry, BaseModel):
            keys += [rf"{key}\.[A-Z]+\.{sub}" for sub in config_keys(entry)]
    return keys


def test_every_configuration_key_with_its_variable(site: Path) -> None:
    page = text_of(site, "configuration.html")
    keys = config_keys(Settings)
    assert {r"audio\.input_device", r"mcp\.servers\.[A-Z]+\.confirm",
            r"assistants\.[A-Z]+\.voice"} <= set(keys)
    for key in keys:
        assert re.search(rf"(?<![\w.]){key}(?![\w.])", page), key
        variable = "VOICED_" + key.upper().replace(r"\.", "__")
        assert re.search(rf"\b{variable}\b", page), variable


def test_every_control_method(site: Path, tmp_path: Path, processes: list[DaemonProcess]) -> None:
    """What a running daemon (with the bundled plugins) answers to `describe`."""
    daemon = DaemonProcess(tmp_path, {**no_sound_server(tmp_path), **VIRTUAL_DEVICES}, "--simulate")
    processes.append(daemon)
    methods = daemon.rpc("describe")["result"]["methods"]
    assert {"status", "tools", "approve", "plugins", "history"} <= {method["name"] for method in methods}
    page = text_of(site, "control.html")
    for method in methods:
        assert re.search(rf"\b{re.escape(method['name'])}\b", page), method["name"]
        assert method["summary"].replace("`", "") in page


def test_every_voicectl_command(site: Path) -> None:
    page = text_of(site, "control.html")
    start = page.index("voicectl wraps")
    section = page[start:page.index("Methods", start)]
    group = typer.main.get_group(app)
    commands = list(group.commands)
    config = group.commands["config"]
    assert isinstance(config, typer.core.TyperGroup)
    commands += list(config.commands)
    assert {"status", "announce", "approve", "show"} <= set(commands)
    for command in commands:
        assert re.search(rf"\b{command}\b", section), command


def test_every_hook(site: Path) -> None:
    page = text_of(site, "plugins.html")
    names = [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
             if name.startswith("voiced_")]
    assert "voiced_startup" in names
    for name in names:
        assert f"{name}(" in page


def test_every_realtime_event_type(site: Path) -> None:
    page = text_of(site, "events.html")
    for event_type in CLIENT_EVENT_TYPES | SERVER_EVENT_TYPES:
        assert event_type in page


def test_the_library_api(site: Path) -> None:
    page = text_of(site, "library.html")
    assert "async with voiced.client.connect(" in page  # sphinxcontrib-trio shows how it is used
    for name in ("send", "update", "say", "append_audio", "commit", "interrupt", "close"):
        assert inspect.iscoroutinefunction(getattr(Session, name))
        assert f"await {name}(" in page
