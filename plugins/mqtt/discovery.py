"""Where voiced's topics are, and the one message that tells Home Assistant about them.

Home Assistant's device-based discovery: a single retained JSON object on
`<discovery_prefix>/device/<node_id>/config` names the device, its availability and every
component (entity), each with the topics it reads and writes. Everything here is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voiced.mqtt_config import MqttConfig

STATES = ["connecting", "standby", "listening", "user_speaking", "thinking", "speaking", "paused", "error"]
LISTEN_MODES = ["always", "wake"]
"""What the listen mode select offers; push-to-talk needs its own session settings, so it stays
a configuration choice."""
ONLINE, OFFLINE = "online", "offline"
PROJECT_URL = "https://github.com/voiced/voiced"

COMMANDS = ("paused", "interrupt", "wake", "sleep", "listen_mode", "volume", "announce")


@dataclass(frozen=True)
class Topics:
    """Every topic of one voiced (`base`) and of Home Assistant (`discovery_prefix`)."""

    node_id: str
    base: str
    discovery_prefix: str

    @classmethod
    def of(cls, config: MqttConfig) -> Topics:
        return cls(config.node_id, config.topic, config.discovery_prefix)

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def state(self) -> str:
        """One JSON object: state, paused, listen_mode, volume, cost_today_usd, last_error."""
        return f"{self.base}/state"

    @property
    def transcript(self) -> str:
        return f"{self.base}/transcript"

    @property
    def discovery(self) -> str:
        return f"{self.discovery_prefix}/device/{self.node_id}/config"

    @property
    def home_assistant_status(self) -> str:
        """Home Assistant says "online" here when it starts: discovery is sent again."""
        return f"{self.discovery_prefix}/status"

    def command(self, name: str) -> str:
        return f"{self.base}/{name}/set"

    def command_of(self, topic: str) -> str | None:
        """The command a topic is for, if it is one of ours."""
        for name in COMMANDS:
            if topic == self.command(name):
                return name
        return None


def _value(key: str) -> str:
    return f"{{{{ value_json.{key} }}}}"


def discovery_payload(topics: Topics, *, name: str, version: str) -> dict[str, Any]:
    """The device discovery message (Home Assistant 2024.11 or later)."""
    node, state = topics.node_id, topics.state

    def component(platform: str, key: str, title: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        return key, {"platform": platform, "unique_id": f"voiced_{node}_{key}", "name": title,
                     "object_id": f"voiced_{node}_{key}", **fields}

    def button(key: str, title: str, icon: str) -> tuple[str, dict[str, Any]]:
        return component("button", key, title, command_topic=topics.command(key), payload_press="PRESS",
                         icon=icon)

    components = dict([
        component("sensor", "state", "State", device_class="enum", options=STATES, state_topic=state,
                  value_template=_value("state"), icon="mdi:account-voice"),
        component("switch", "paused", "Paused", state_topic=state, command_topic=topics.command("paused"),
                  value_template="{{ 'ON' if value_json.paused else 'OFF' }}", payload_on="ON",
                  payload_off="OFF", icon="mdi:microphone-off"),
        button("interrupt", "Interrupt", "mdi:hand-back-left"),
        button("wake", "Wake", "mdi:bell-ring"),
        button("sleep", "Sleep", "mdi:sleep"),
        component("select", "listen_mode", "Listen mode", options=LISTEN_MODES, state_topic=state,
                  value_template=_value("listen_mode"), command_topic=topics.command("listen_mode"),
                  icon="mdi:ear-hearing"),
        component("number", "volume", "Volume", min=0, max=100, step=1, mode="slider",
                  unit_of_measurement="%", state_topic=state, value_template=_value("volume"),
                  command_topic=topics.command("volume"), icon="mdi:volume-high"),
        component("event", "transcript", "Transcript", event_types=["user", "assistant"],
                  state_topic=topics.transcript, icon="mdi:text-box-outline"),
        component("notify", "announce", "Announce", command_topic=topics.command("announce"),
                  icon="mdi:bullhorn"),
        component("sensor", "cost_today", "Cost today", device_class="monetary", unit_of_measurement="USD",
                  state_class="total", suggested_display_precision=2, entity_category="diagnostic",
                  state_topic=state, value_template=_value("cost_today_usd")),
        component("sensor", "last_error", "Last error", entity_category="diagnostic", state_topic=state,
                  value_template="{{ value_json.last_error or '' }}", icon="mdi:alert-circle-outline"),
    ])
    return {
        "device": {"identifiers": [f"voiced_{node}"], "name": name, "manufacturer": "voiced",
                   "model": "voiced voice assistant", "sw_version": version},
        "origin": {"name": "voiced", "sw_version": version, "support_url": PROJECT_URL},
        "availability": [{"topic": topics.availability, "payload_available": ONLINE,
                          "payload_not_available": OFFLINE}],
        "qos": 1,
        "components": components,
    }
