"""An offline wake word: `[listen] wake_word = "okay_nabu"` and only that phrase wakes voiced.

The detector is microWakeWord (pymicro-wakeword: a small TensorFlow Lite model per phrase,
bundled in its wheel; nothing is fetched). Without `wake_word`, this plugin offers nothing
and standby wakes on voice activity, as before. With it, the plugin host runs the detector
in a thread of its own during each stretch of standby; the words that woke voiced and those
after them reach the server through the pre-roll. In a quiet room the model rests: once it
has heard `REST_AFTER_S` of near-silence, more of it is not run through the model.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from voiced import hookimpl
from voiced.audio.levels import level_dbfs
from voiced.audio.resample import Resampler
from voiced.pcm import WIRE_RATE

if TYPE_CHECKING:
    from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

    from voiced.plugin_host.api import WakeContext

log = logging.getLogger("voiced.plugins.wake_word")

MODEL_RATE = 16_000
"""microWakeWord's features are computed from 16 kHz audio."""
QUIET_DBFS = -60.0
"""Frames quieter than this hold no phrase: a quiet room, or a pause."""
REST_AFTER_S = 2.0
"""Near-silence the model hears before it rests: by then its state and its sliding average
are those of silence (a pause within a phrase is much shorter), so skipping more of it
changes nothing, and the first frame above `QUIET_DBFS` is heard as after silence."""


class WakeWord:
    """One stretch of standby's detector: 24 kHz mic frames in, True when the phrase is heard."""

    def __init__(self, model: str, threshold: float | None = None, rate: int = WIRE_RATE) -> None:
        # Imported here: the model's runtime (TensorFlow Lite) is loaded only when it is used.
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

        self.model: MicroWakeWord = MicroWakeWord.from_builtin(Model(model))
        if threshold is not None:
            self.model.probability_cutoff = threshold
        self._features: MicroWakeWordFeatures = MicroWakeWordFeatures()
        self._resample = Resampler(rate, MODEL_RATE)
        self._rate = rate
        self._quiet_s = 0.0

    @property
    def phrase(self) -> str:
        return str(self.model.wake_word)

    def feed(self, pcm: bytes) -> bool:
        if level_dbfs(pcm) >= QUIET_DBFS:
            self._quiet_s = 0.0
        elif self._quiet_s >= REST_AFTER_S:
            return False
        else:
            self._quiet_s += len(pcm) / 2 / self._rate
        heard = False
        for features in self._features.process_streaming(self._resample(pcm)):
            # Every window goes through the model, so its sliding average stays current.
            heard = bool(self.model.process_streaming(features)) or heard
        return heard

    def close(self) -> None:
        self.model.close()


@hookimpl
def voiced_wake_detector(ctx: WakeContext) -> WakeWord | None:
    listen = ctx.daemon.settings.listen
    if listen.wake_word is None:
        return None
    detector = WakeWord(listen.wake_word, listen.wake_word_threshold, ctx.rate)
    log.debug("listening for %r (threshold %.2f)", detector.phrase, detector.model.probability_cutoff)
    return detector
