"""Running one bundled plugin alone in a real host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.voiced.plugin_host.fakes import FakeDaemon, make_host
from voiced.config import PluginsConfig, RecordingConfig, Settings
from voiced.plugin_host import PluginHost
from voiced.plugin_host.discovery import bundled_candidates


def bundled_alone(tmp_path: Path, name: str, table: dict[str, Any] | None = None,
                  recording: RecordingConfig | None = None, **sections: Any) -> tuple[PluginHost, FakeDaemon]:
    """A host with only the bundled plugin `name` (its table `table`); `sections` are more of
    the settings (`api=ApiConfig(...)`)."""
    others = [c.name for c in bundled_candidates() if c.name != name]
    plugins = PluginsConfig(disabled=others, **({name: table} if table else {}))
    settings = Settings(plugins=plugins, recording=recording or RecordingConfig(), **sections)
    return make_host(tmp_path, settings=settings, bundled=True)
