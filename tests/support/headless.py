"""A machine with no sound server, as a container, a CI runner or a server in a cupboard is."""

from __future__ import annotations

import os
from pathlib import Path


def no_sound_server(folder: Path) -> dict[str, str]:
    """An environment whose processes find no sound server (and start none), with their own
    home and runtime folder under `folder`, and no voiced or OpenAI settings of the caller's."""
    run = folder / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    client_conf = folder / "pulse-client.conf"
    client_conf.write_text("autospawn = no\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VOICED_", "OPENAI_", "PULSE_", "JACK_", "ALSA_"))}
    env.update({
        "PULSE_SERVER": f"unix:{folder}/no-sound-server",
        "PULSE_CLIENTCONFIG": str(client_conf),
        "PULSE_RUNTIME_PATH": str(run / "pulse"),
        "HOME": str(folder / "home"),
        "XDG_CONFIG_HOME": str(folder / "home" / ".config"),
        "XDG_DATA_HOME": str(folder / "home" / ".local" / "share"),
        "XDG_STATE_HOME": str(folder / "home" / ".local" / "state"),
        "XDG_RUNTIME_DIR": str(run),
        "PYTHONUNBUFFERED": "1",
    })
    return env
