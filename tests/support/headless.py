"""A machine with no sound server, as a container, a CI runner or a server in a cupboard is."""

from __future__ import annotations

import os
from pathlib import Path

VIRTUAL_DEVICES = {"VOICED_AUDIO__INPUT_DEVICE": "null", "VOICED_AUDIO__OUTPUT_DEVICE": "null"}
"""A daemon's settings for virtual devices: silence in, nothing out, paced by the clock."""


NO_CARDS_ALSA_CONF = """\
# A machine without a sound card: `hw`, `plughw` and the card configurations are not
# defined, so a card the kernel has cannot be opened; the PCMs named lead to no card.
pcm.!default { type plug slave.pcm "cards.pcm.default" }
pcm.speakers { type plug slave.pcm "cards.pcm.front" }
ctl.!default { type hw card 31 }
"""


def private_home(folder: Path) -> dict[str, str]:
    """A home, configuration, data, state and runtime folder of its own under `folder`."""
    return {
        "HOME": str(folder / "home"),
        "XDG_CONFIG_HOME": str(folder / "home" / ".config"),
        "XDG_DATA_HOME": str(folder / "home" / ".local" / "share"),
        "XDG_STATE_HOME": str(folder / "home" / ".local" / "state"),
        "XDG_RUNTIME_DIR": str(folder / "run"),
        "PYTHONUNBUFFERED": "1",
    }


def no_sound(folder: Path) -> dict[str, str]:
    """The variables that leave a process no sound server to find (nor start) and no sound
    card to open, with its runtime files under `folder`: to lay over an environment."""
    run = folder / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    client_conf = folder / "pulse-client.conf"
    client_conf.write_text("autospawn = no\n")
    alsa_conf = folder / "no-cards-alsa.conf"
    alsa_conf.write_text(NO_CARDS_ALSA_CONF)
    return {
        "PULSE_SERVER": f"unix:{folder}/no-sound-server",
        "PULSE_CLIENTCONFIG": str(client_conf),
        "PULSE_RUNTIME_PATH": str(run / "pulse"),
        "ALSA_CONFIG_PATH": str(alsa_conf),
    }


def no_sound_server(folder: Path) -> dict[str, str]:
    """An environment whose processes find no sound server (and start none), with their own
    home and runtime folder under `folder`, and no voiced or OpenAI settings of the caller's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VOICED_", "OPENAI_", "PULSE_", "JACK_", "ALSA_"))}
    env.update(no_sound(folder))
    env.update(private_home(folder))
    return env
