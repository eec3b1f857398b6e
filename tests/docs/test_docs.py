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
from pathlib import Path

import pytest
from pydantic import BaseModel

from voiced.client import Session
from voiced.config import Settings
from voiced.control import MethodRegistry
from voiced.daemon.control_methods import register_control_methods
from voiced.plugin_host import hookspecs
from voiced.realtime.events import CLIENT_EVENT_TYPES, SERVER_EVENT_TYPES

DOCS = Path(__file__).parents[2] / "docs"


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
    keys = []
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            keys += config_keys(field.annotation, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def test_every_configuration_key_with_its_variable(site: Path) -> None:
    page = text_of(site, "configuration.html")
    keys = config_keys(Settings)
    assert "audio.input_device" in keys
    for key in keys:
        assert key in page
        assert "VOICED_" + key.upper().replace(".", "__") in page


def test_every_control_method(site: Path) -> None:
    registry = MethodRegistry()
    register_control_methods(registry, None)  # type: ignore[arg-type]
    page = text_of(site, "control.html")
    for method in registry.describe():
        assert method["name"] in page
        assert method["summary"].replace("`", "") in page


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
