"""`[mqtt]`: the Home Assistant bridge (the bundled `mqtt` plugin), on when `host` is set."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

NODE_ID = re.compile(r"[a-z0-9_-]{1,64}\Z")


def node_id_of(host_name: str) -> str:
    """A host name reduced to what a node id may hold: `[a-z0-9_-]` (`voiced` if nothing is left)."""
    reduced = re.sub(r"[^a-z0-9_-]+", "_", host_name.split(".")[0].lower()).strip("_")
    return reduced[:64] or "voiced"


def _node_id(value: str) -> str:
    if not NODE_ID.match(value):
        raise ValueError("must be 1-64 of a-z, 0-9, _ and -")
    return value


def _topic(value: str) -> str:
    """A topic prefix: no wildcards, no empty levels."""
    if not value or "+" in value or "#" in value or "\0" in value or "" in value.split("/"):
        raise ValueError("must be a topic without wildcards (+ #) or empty levels")
    return value


def _absolute(path: Path) -> Path:
    path = path.expanduser()
    if not path.is_absolute():
        raise ValueError("must be an absolute path (or start with ~)")
    return path


def _readable(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    return path


class MqttConfig(BaseModel):
    """The broker, who voiced is on it, and where its topics live."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(None, description="the broker; unset: no bridge")
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Annotated[Path, AfterValidator(_absolute), AfterValidator(_readable)] | None = Field(
        None, description="CA certificates for tls; unset: the system's")
    node_id: Annotated[str, AfterValidator(_node_id)] = Field(
        default_factory=lambda: node_id_of(socket.gethostname()),
        description="this voiced on the broker; default: the host name")
    discovery_prefix: Annotated[str, AfterValidator(_topic)] = "homeassistant"
    base_topic: Annotated[str, AfterValidator(_topic)] | None = Field(
        None, description="default: voiced/<node_id>")

    @property
    def topic(self) -> str:
        """The base of every topic of this voiced."""
        return self.base_topic or f"voiced/{self.node_id}"
