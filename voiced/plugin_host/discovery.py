"""Finding plugins and loading them: bundled modules, drop-in files, entry points.

A plugin that cannot be imported, or whose `[plugins.NAME]` table does not validate,
is recorded with its status and error; loading the others goes on.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import pkgutil
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pydantic

from voiced.config import describe_validation_error
from voiced.exceptions import one_line

log = logging.getLogger("voiced.plugins")

BUNDLED_PACKAGE = "voiced_plugins"
ENTRY_POINT_GROUP = "voiced"
DROPIN_MODULE_PREFIX = "voiced_dropin_"

Source = Literal["bundled", "drop-in", "entry point"]

# Statuses, as `voicectl plugins` shows them.
ENABLED = "enabled"
DISABLED = "disabled"
FAILED_TO_LOAD = "failed to load"
FAILED_CONFIG = "failed config"
FAILING = "failing"
DISABLED_AFTER_FAILURES = "disabled after failures"


@dataclass
class Candidate:
    """A plugin found but not imported yet."""

    name: str
    source: Source
    location: str
    load: Callable[[], object]
    refused: str | None = None
    """Why it must not be imported (a drop-in others could have written), or None."""


@dataclass
class PluginRecord:
    """One plugin's standing: what `plugins` reports."""

    name: str
    source: Source
    location: str
    plugin: object | None = None
    status: str = ENABLED
    hooks: list[str] = field(default_factory=list)
    failures: int = 0
    """Consecutive failures; a success resets it."""
    failures_total: int = 0
    last_error: str | None = None
    dropped: int = 0
    """Events, turns or audio frames lost because the plugin was slow."""
    threads_abandoned: int = 0

    @property
    def active(self) -> bool:
        return self.status in (ENABLED, FAILING)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "location": self.location,
            "hooks": self.hooks,
            "status": self.status,
            "failures": self.failures,
            "failures_total": self.failures_total,
            "last_error": self.last_error,
            "dropped": self.dropped,
            "threads_abandoned": self.threads_abandoned,
            "status_line": self.status_line,
        }

    @property
    def status_line(self) -> dict[str, Any] | None:
        """The plugin's own `status_line` (a `StatusLine`), while it is active."""
        line = getattr(self.plugin, "status_line", None) if self.active else None
        ok, text = getattr(line, "ok", None), getattr(line, "text", None)
        if not isinstance(ok, bool) or not isinstance(text, str):
            return None
        return {"ok": ok, "text": text[:300]}


def bundled_candidates(package: str = BUNDLED_PACKAGE) -> list[Candidate]:
    """Each public module of the bundled `plugins` package is a plugin named after it."""
    try:
        pkg = importlib.import_module(package)
    except ImportError:
        log.warning("bundled plugins package %r not found", package)
        return []
    found = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module_name = f"{package}.{info.name}"
        path = Path(pkg.__path__[0]) / (f"{info.name}/__init__.py" if info.ispkg else f"{info.name}.py")
        found.append(Candidate(info.name, "bundled", str(path),
                               functools.partial(importlib.import_module, module_name)))
    return found


def dropin_candidates(dirs: list[Path]) -> list[Candidate]:
    """Each `*.py` in the folders (not starting with `_`) is a plugin named after the file.

    A file, or a folder, that someone else could have written is found but refused.
    """
    found = []
    for folder in dirs:
        folder = folder.expanduser()
        if not folder.is_dir():
            continue
        folder_refused = _untrusted(folder)
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            found.append(Candidate(path.stem, "drop-in", str(path), functools.partial(_import_file, path),
                                   refused=folder_refused or _untrusted(path)))
    return found


def _untrusted(path: Path) -> str | None:
    """Why code at `path` is not the user's own, as ssh judges its files: it must belong to
    the user (or root) and be writable by nobody else. None when it may run."""
    try:
        info = path.stat()  # through a symlink: the file that would run is the one judged
    except OSError as exc:
        return f"cannot check {path}: {exc.strerror}"
    if info.st_uid not in (os.getuid(), 0):
        return f"{path} belongs to another user (uid {info.st_uid})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by group or others (chmod go-w {path})"
    return None


def _import_file(path: Path) -> object:
    # A fresh module each load (in sys.modules, so dataclasses and pydantic can resolve it).
    module_name = DROPIN_MODULE_PREFIX + path.stem
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def entry_point_candidates(group: str = ENTRY_POINT_GROUP) -> list[Candidate]:
    """Installed distributions' entry points in group `voiced`: the name is the plugin's name."""
    found = []
    for ep in sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        where = f"{dist.name} {dist.version}" if dist is not None else ep.value
        found.append(Candidate(ep.name, "entry point", where, ep.load))
    return found


def discover(dropin_dirs: list[Path], *, bundled: bool = True) -> list[Candidate]:
    """Every plugin found, one per name: a drop-in replaces an entry point of the same
    name, which replaces a bundled one (so a user can customise a copy)."""
    by_name: dict[str, Candidate] = {}
    found = (bundled_candidates() if bundled else []) + entry_point_candidates() + dropin_candidates(
        dropin_dirs)
    for candidate in found:
        if (earlier := by_name.get(candidate.name)) is not None:
            log.info("plugin %s: %s %s replaces %s %s", candidate.name, candidate.source,
                     candidate.location, earlier.source, earlier.location)
        by_name[candidate.name] = candidate
    return list(by_name.values())


def load(candidate: Candidate, table: dict[str, Any]) -> PluginRecord:
    """Import the plugin and hand it its config; the record says how that went.

    A plugin's `Config` (a pydantic model, if it has one) validates its `[plugins.NAME]`
    table and the result is set as its `config` attribute; without `Config`, `config`
    is the table as a dict. A refused drop-in is not imported: it is `failed to load`,
    with the reason.
    """
    record = PluginRecord(candidate.name, candidate.source, candidate.location)
    if candidate.refused is not None:
        record.status, record.last_error = FAILED_TO_LOAD, f"not loaded: {candidate.refused}"
        log.warning("plugin %s: %s", candidate.name, record.last_error)
        return record
    try:
        plugin: Any = candidate.load()  # a module or any object, with whatever attributes it has
    except BaseException as exc:  # a plugin's SystemExit or KeyboardInterrupt is its failure too
        if isinstance(exc, KeyboardInterrupt):
            raise
        log.exception("plugin %s failed to load from %s", candidate.name, candidate.location)
        record.status, record.last_error = FAILED_TO_LOAD, one_line(exc)
        return record
    record.plugin = plugin
    schema = getattr(plugin, "Config", None)
    if isinstance(schema, type) and issubclass(schema, pydantic.BaseModel):
        try:
            config: object = schema.model_validate(table)
        except pydantic.ValidationError as exc:
            record.status = FAILED_CONFIG
            record.last_error = describe_validation_error(exc, under=f"plugins.{candidate.name}")
            log.error("plugin %s: %s", candidate.name, record.last_error)
            return record
    else:
        config = dict(table)
    try:
        plugin.config = config
    except AttributeError as exc:
        record.status, record.last_error = FAILED_CONFIG, one_line(exc)
    return record
