"""The user's yes: a call that acts on the world waits for it, and anything else cancels it.

The model is told the call needs confirmation and asks aloud; the user's next turn decides.
Only an explicit yes approves (or `voicectl approve`): a short answer that starts with a
yes and has no word of refusal in it. A no, anything else (a question, a new request), or
no answer within `ANSWER_WAIT_S` cancels. The words are English.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

ANSWER_WAIT_S = 120.0
"""How long a call waits for the user's answer before it is dropped."""

YES_WORDS = frozenset({"yes", "yeah", "yep", "yup", "sure", "ok", "okay", "confirm", "confirmed",
                       "affirmative", "absolutely", "certainly", "alright"})
YES_PHRASES = (("go", "ahead"), ("do", "it"), ("do", "that"), ("please", "do"), ("of", "course"),
               ("all", "right"))
REFUSAL_WORDS = frozenset({"no", "nope", "nah", "not", "don't", "dont", "never", "cancel", "stop",
                           "wait", "abort", "isn't", "wrong", "instead", "but"})
YES_MAX_WORDS = 4
"""A yes is short ("yes please", "sure, go ahead"): a longer answer is saying something else."""


def is_yes(text: str) -> bool:
    """Whether `text` is an explicit yes: short, starting with a yes word or phrase, and
    with no word of refusal anywhere; not a question ("please" alone is not a yes)."""
    if text.rstrip().endswith("?"):
        return False
    words = re.findall(r"[a-z']+", text.lower().replace("\u2019", "'"))
    if not words or len(words) > YES_MAX_WORDS or REFUSAL_WORDS.intersection(words):
        return False
    return words[0] in YES_WORDS or any(tuple(words[:len(p)]) == p for p in YES_PHRASES)


def asking_output(name: str) -> str:
    """The output that tells the model to ask, in place of the tool's."""
    return json.dumps({
        "status": "needs_confirmation",
        "message": (f"{name} was NOT run: it acts on the world and needs the user's yes. Ask the "
                    "user, in one short question, to confirm exactly what it will do. Do not call "
                    "it again: voiced runs it when the user says yes, and gives you its result."),
    })


@dataclass
class Pending:
    """A call waiting for the user's answer."""

    call_id: str
    name: str
    arguments: str
    answer_started: bool = False
    """A user turn began after the question: its transcript is the answer."""
    answer_item: str | None = None


class Confirmations:
    """The one call waiting for a yes (a new one replaces it), and the user's turns that answer."""

    def __init__(self) -> None:
        self.pending: Pending | None = None

    def ask(self, call_id: str, name: str, arguments: str) -> Pending | None:
        """Hold this call until the answer; returns the call it replaced, if any."""
        replaced, self.pending = self.pending, Pending(call_id, name, arguments)
        return replaced

    def user_started(self, item_id: str | None) -> None:
        """A user turn began: the one after the question is the answer."""
        if self.pending is not None and not self.pending.answer_started:
            self.pending.answer_started, self.pending.answer_item = True, item_id

    def user_said(self, text: str, item_id: str | None, *, typed: bool) -> tuple[Pending, bool] | None:
        """A finished user transcript: (the call, whether it is approved) when it answers one.

        A typed turn always answers; a spoken one when it began after the question (a late
        transcript of the turn that led to the call does not)."""
        pending = self.pending
        if pending is None:
            return None
        if not typed and not (pending.answer_started and pending.answer_item in (None, item_id)):
            return None
        self.pending = None
        return pending, is_yes(text)

    def take(self, call_id: str | None = None) -> Pending | None:
        """The pending call (only if it is `call_id`, when given), no longer pending."""
        pending = self.pending
        if pending is None or (call_id is not None and pending.call_id != call_id):
            return None
        self.pending = None
        return pending
