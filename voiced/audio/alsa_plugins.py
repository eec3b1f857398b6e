"""ALSA's plugins, let go after PortAudio's device scan.

PortAudio's scan opens every PCM the ALSA configuration names, and ALSA loads the plugin
behind each one: on a typical desktop install (alsa-plugins) that is `a52` with libavcodec
and about a hundred libraries behind it, `jack`, `oss`, `speex`, `upmix`... about 11 MB
of resident memory that stays, cached by ALSA, although voiced then opens one or two
PCMs (usually `pulse` or `default`). ALSA frees that cache, and its parsed
configuration, in `snd_config_update_free_global()` (what PortAudio itself calls when it
terminates): it closes only plugins no open PCM holds, and the next `snd_pcm_open` reads
the configuration afresh, so streams open exactly as before.
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger("voiced.audio")


def release_unused_plugins() -> None:
    """Free ALSA's cached configuration and unload the plugins no open PCM uses.

    Call it holding PortAudio's lock, after a scan; without ALSA in the process (another
    platform, another host API) it does nothing."""
    try:
        asound = ctypes.CDLL("libasound.so.2", mode=getattr(os, "RTLD_NOLOAD", 0) | os.RTLD_NOW)
    except OSError:
        return
    if (error := asound.snd_config_update_free_global()) < 0:
        log.debug("ALSA kept its plugins after the device scan (error %d)", error)
