"""The assistant's voice: items received and queued for playback, and cutting them off.

Interruption is a two-step handshake because only the playback knows what was heard:
`cut_off` asks for `StopPlayback`, the daemon stops the device and reports how much of
each item was played, and `stopped` then decides, per item, between
`conversation.item.truncate` (some of it was heard) and `conversation.item.delete`
(none was), and whether to `response.cancel` (only where the server will not).

An item's transcript is reported once its audio has been heard, or cut to the part that
was heard, so transcript records say what the user actually heard.

Audio goes to the playback in whole samples: a delta may end half-way through one, and
its last byte waits for the next delta of the item. A delta that cannot be decoded is
dropped with a log line; the rest of the item plays.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voiced.pcm import SAMPLE_BYTES, pcm_ms
from voiced.realtime.protocol import ClientEvents, decode_audio

from .actions import Action, Play, Publish, Send, StopPlayback

log = logging.getLogger("voiced")

REMEMBERED = 64
"""How many cut-off responses and items are remembered, to drop their late events."""


def heard_text(transcript: str, heard_ms: float, received_ms: float) -> str:
    """The part of `transcript` the user heard: its share of the audio, to a word boundary.

    Transcript deltas arrive alongside the audio they describe, so the share of the
    audio played is a fair estimate of the share of the words spoken.
    """
    if received_ms <= 0 or heard_ms <= 0:
        return ""
    if heard_ms >= received_ms:
        return transcript
    cut = int(len(transcript) * heard_ms / received_ms)
    while 0 < cut < len(transcript) and not transcript[cut - 1].isspace() and not transcript[cut].isspace():
        cut += 1  # finish the word being spoken, not the next one
    return transcript[:cut].rstrip()


class Recent:
    """A set that remembers only its last `size` members: enough to recognise late events."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self._order: deque[str] = deque(maxlen=size)

    def add(self, value: str) -> None:
        if value not in self._order:
            self._order.append(value)

    def __contains__(self, value: object) -> bool:
        return value in self._order


@dataclass(eq=False)
class AssistantItem:
    """An assistant message: its audio received so far and its transcript."""

    item_id: str
    response_id: str | None
    connection: int
    """The connection it arrived on: items of one that has ended cannot be truncated or
    deleted any more. Counted by us, not read from the server: `session.id` is optional."""
    received_ms: float = 0.0
    """Audio handed to the playback, in whole samples: what the device can play of it."""
    half_sample: bytes = b""
    """The last delta's trailing byte, the first half of a sample the next delta completes."""
    bad_deltas: int = 0
    """Deltas dropped because they could not be decoded; the first is logged as a warning."""
    transcript: str = ""
    final_transcript: str | None = None
    """The server's whole transcript, held back until the audio it describes has played."""
    audio_started: bool = False

    def whole_samples(self, data: bytes) -> bytes:
        """`data` after the byte held back from the last delta, less a half sample at its
        end, which is held back for the next one: every sample played is a real one."""
        data = self.half_sample + data
        whole = len(data) - len(data) % SAMPLE_BYTES
        self.half_sample = data[whole:]
        return data[:whole]


@dataclass
class Interruption:
    """A cut-off waiting for the playback to say how much was heard."""

    heard: AssistantItem | None
    unheard: list[AssistantItem] = field(default_factory=list)
    cancel_response: str | None = None


def transcript_completed(item_id: str | None, text: str, interrupted: bool = False) -> Publish:
    return Publish("assistant.transcript.completed", {"item_id": item_id, "text": text,
                                                      "interrupted": interrupted})


class Speech:
    """What the assistant is saying: the active response's item and the items playing."""

    def __init__(self, events: ClientEvents) -> None:
        self.events = events
        self.item: AssistantItem | None = None
        """The item of the response being received (None between responses)."""
        self._playing: list[AssistantItem] = []
        """Items with audio in the playback queue, the one being heard first."""
        self._pending: Interruption | None = None
        self._dropped_responses = Recent()
        self._cut_items = Recent()

    @property
    def playing(self) -> bool:
        return bool(self._playing)

    def is_dropped(self, response_id: Any) -> bool:
        return response_id in self._dropped_responses

    # -- receiving ---------------------------------------------------------------

    def response_created(self) -> None:
        self.item = None

    def item_added(self, item_id: str, response_id: str | None, connection: int) -> None:
        self.item = AssistantItem(item_id, response_id, connection)

    def response_done(self) -> None:
        self.item = None

    def audio(self, event: Mapping[str, Any]) -> list[Action]:
        item = self.item
        if (item is None or event.get("response_id") in self._dropped_responses
                or event.get("item_id") not in (None, item.item_id)):
            return []  # late audio of a response the user cut off, or of no known item
        try:
            pcm = item.whole_samples(decode_audio(event))
        except ValueError as exc:
            item.bad_deltas += 1
            # One warning an item: a server sending nothing but garbage must not fill the log.
            log.log(logging.WARNING if item.bad_deltas == 1 else logging.DEBUG,
                    "dropped an audio delta of item %s: %s", item.item_id, exc)
            return []
        if not pcm:
            return []
        actions: list[Action] = [Play(item.item_id, pcm)]
        if not item.audio_started:
            item.audio_started = True
            actions.append(Publish("assistant.audio.started", {"item_id": item.item_id}))
        if item not in self._playing:
            self._playing.append(item)
        item.received_ms += pcm_ms(len(pcm))
        return actions

    def transcript_delta(self, event: Mapping[str, Any]) -> list[Action]:
        item = self.item
        if item is None or event.get("response_id") in self._dropped_responses:
            return []
        delta = str(event.get("delta") or "")
        item.transcript += delta
        return [Publish("assistant.transcript.delta", {"item_id": item.item_id, "delta": delta})]

    def transcript_done(self, item_id: Any, text: str) -> list[Action]:
        if item_id in self._cut_items:
            return []  # already reported, cut to what was heard
        playing = next((i for i in self._playing if i.item_id == item_id), None)
        if playing is not None:
            playing.final_transcript = text  # reported once heard, or cut when interrupted
            return []
        return [transcript_completed(item_id, text)]

    # -- playing ---------------------------------------------------------------------

    def started_playing(self, item_id: str) -> list[Action]:
        """The playback began `item_id`: every item queued before it has been heard."""
        position = next((n for n, i in enumerate(self._playing) if i.item_id == item_id), 0)
        finished, self._playing = self._playing[:position], self._playing[position:]
        return [a for item in finished if (a := self._heard_whole(item))]

    def drained(self) -> list[Action]:
        """Everything queued has been heard."""
        finished, self._playing = self._playing, []
        return [a for item in finished if (a := self._heard_whole(item))]

    @staticmethod
    def _heard_whole(item: AssistantItem) -> Publish | None:
        text, item.final_transcript = item.final_transcript, None
        return None if text is None else transcript_completed(item.item_id, text)

    # -- cutting off -------------------------------------------------------------------

    def cut_off(self, active_response: str | None, *, server_cancels: bool,
                connection: int | None) -> list[Action]:
        """Stop what the assistant is saying or about to say; [] when it says nothing.
        `connection` is the live one (None while disconnected)."""
        if not self._playing and active_response is None:
            return []  # nothing is being said: never truncate
        if active_response is not None:
            self._dropped_responses.add(active_response)
        heard = self._playing[0] if self._playing else None
        unheard = self._playing[1:]
        if self.item is not None and self.item not in self._playing:
            unheard.append(self.item)
        cancel = active_response if active_response is not None and not server_cancels else None
        pending = Interruption(heard, unheard, cancel)
        if self._playing:
            self._pending = pending
            return [StopPlayback(tuple(i.item_id for i in self._playing))]
        return self._conclude(pending, {}, connection)

    def stopped(self, played_ms: Mapping[str, float], connection: int | None) -> list[Action]:
        """The playback is silent; `played_ms[item_id]` of each item came out of the device."""
        self._playing = []
        pending, self._pending = self._pending, None
        return [] if pending is None else self._conclude(pending, played_ms, connection)

    def _conclude(self, pending: Interruption, played_ms: Mapping[str, float],
                  connection: int | None) -> list[Action]:
        """Tell the server what was heard of each item (only for items of the live session)."""
        actions: list[Action] = []
        if pending.cancel_response is not None and connection is not None:
            actions.append(Send(self.events.cancel_response()))
        heard_ms = 0
        for item in ([pending.heard] if pending.heard else []) + pending.unheard:
            ms = int(min(played_ms.get(item.item_id, 0.0), item.received_ms)) if item is pending.heard else 0
            if item is pending.heard:
                heard_ms = ms
            if connection is not None and item.connection == connection:
                actions.append(Send(self.events.truncate_item(item.item_id, ms) if ms > 0
                                    else self.events.delete_item(item.item_id)))
            if item.audio_started:
                spoken = item.final_transcript if item.final_transcript is not None else item.transcript
                actions.append(transcript_completed(item.item_id, heard_text(spoken, ms, item.received_ms),
                                                    interrupted=True))
            item.final_transcript = None
            self._cut_items.add(item.item_id)
            if self.item is item:
                self.item = None
        cut = pending.heard or (pending.unheard[0] if pending.unheard else None)
        actions.append(Publish("assistant.interrupted", {"item_id": cut.item_id if cut else None,
                                                         "played_ms": heard_ms}))
        return actions
