"""The plugins of one host: found, imported, configured and registered with pluggy."""

from __future__ import annotations

import logging
from pathlib import Path

import pluggy

from voiced.config import Settings

from . import discovery, hookspecs
from .discovery import DISABLED, ENABLED, FAILED_TO_LOAD, PluginRecord, one_line

log = logging.getLogger("voiced.plugins")


class Plugins:
    """Each plugin's record, by name, and pluggy's manager with the active ones registered."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}

    def load(self, settings: Settings, dropin_dirs: list[Path], *, bundled: bool) -> None:
        """Find, import, configure and register every plugin `settings` does not disable.

        Never raises for a plugin's fault: a plugin that cannot be imported, configured or
        registered gets a record with its status and error, and the others load as usual.
        """
        tables = dict(settings.plugins.model_extra or {})
        disabled = set(settings.plugins.disabled)
        for candidate in discovery.discover(dropin_dirs, bundled=bundled):
            table = tables.get(candidate.name)
            table = dict(table) if isinstance(table, dict) else {}
            enabled = table.pop("enabled", True)
            if candidate.name in disabled or enabled is False:
                record = PluginRecord(candidate.name, candidate.source, candidate.location, status=DISABLED)
            else:
                record = discovery.load(candidate, table)
                if record.status == ENABLED:
                    self._register(record)
            self.records[record.name] = record
        log.info("plugins: %s", ", ".join(f"{r.name} ({r.status})" for r in self.records.values()) or "none")

    def impls(self, hook: str) -> list[tuple[PluginRecord, pluggy.HookImpl]]:
        """Active plugins' implementations of `hook`, in pluggy's call order."""
        caller = getattr(self.pm.hook, hook)
        found = []
        for impl in reversed(caller.get_hookimpls()):
            record = self.records.get(impl.plugin_name)
            if record is not None and record.active:
                found.append((record, impl))
        return found

    def unregister(self, record: PluginRecord) -> None:
        """Take the plugin out of pluggy's manager: none of its hooks is called any more."""
        if record.plugin is not None and self.pm.is_registered(record.plugin):
            self.pm.unregister(record.plugin)

    def _register(self, record: PluginRecord) -> None:
        try:
            self.pm.register(record.plugin, name=record.name)
        except Exception as exc:  # pluggy.PluginValidationError: a hook with wrong arguments
            record.status, record.last_error = FAILED_TO_LOAD, one_line(exc)
            log.error("plugin %s: %s", record.name, record.last_error)
            return
        impls = self.pm.get_hookcallers(record.plugin) or []
        unknown = [caller.name for caller in impls if not caller.has_spec()]
        if unknown:
            self.pm.unregister(record.plugin)
            record.status = FAILED_TO_LOAD
            record.last_error = f"unknown hook {', '.join(sorted(unknown))}"
            log.error("plugin %s: %s", record.name, record.last_error)
            return
        record.hooks = sorted(caller.name for caller in impls)
