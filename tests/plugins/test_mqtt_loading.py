"""The MQTT client library is loaded only for a configured broker."""

from __future__ import annotations

import subprocess
import sys

LOAD_THE_BUNDLED_PLUGINS = """
import sys, types
from voiced.config import Settings
from voiced.plugin_host.discovery import bundled_candidates, load

records = {c.name: load(c, {}) for c in bundled_candidates()}
records["mqtt"].plugin.voiced_startup(types.SimpleNamespace(settings=Settings()))
print(sorted(m for m in sys.modules if m.split(".")[0] == "paho" or m.endswith("mqtt.bridge")))
"""


def test_a_voiced_without_a_broker_never_loads_paho() -> None:
    """paho and the bridge are about 1.2 MB of resident memory in every standby daemon,
    with or without a broker to talk to."""
    loaded = subprocess.run([sys.executable, "-c", LOAD_THE_BUNDLED_PLUGINS],
                            capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
