"""The distribution: one wheel with both commands, every package, and the bundled plugins."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts)
             for top in ("voiced", "voicectl") for init in (ROOT / top).rglob("__init__.py")}
    found |= {".".join(("voiced_plugins", *init.parent.relative_to(ROOT / "plugins").parts))
              for init in (ROOT / "plugins").rglob("__init__.py")}
    assert found == listed


def test_a_plain_wheel_holds_the_commands_and_the_bundled_plugins(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("voiced-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for plugin in (ROOT / "plugins").glob("[!_]*.py"):
        assert f"voiced_plugins/{plugin.name}" in names
    assert "voiced/simulator/__main__.py" in names and "voicectl/attach.py" in names
    assert "voiced/demo/question.wav" in names
    assert not any(name.startswith("plugins/") for name in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "voiced = voiced.__main__:main" in scripts and "voicectl = voicectl.__main__:main" in scripts
