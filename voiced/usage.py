"""Token usage and its estimated cost, summed per turn, per conversation and per day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from voiced.config import ModelPrices

PER_MILLION = 1_000_000


@dataclass
class Tokens:
    """Token counts by kind, as `response.done` reports them."""

    text_input: int = 0
    text_cached_input: int = 0
    audio_input: int = 0
    audio_cached_input: int = 0
    text_output: int = 0
    audio_output: int = 0

    @classmethod
    def from_usage(cls, usage: Mapping[str, Any]) -> Tokens:
        """From a `response.done` usage object; cached tokens are a part of the input ones."""
        given = usage.get("input_token_details") or {}
        produced = usage.get("output_token_details") or {}
        cached = given.get("cached_tokens_details") or {}
        text_cached = int(cached.get("text_tokens") or 0)
        audio_cached = int(cached.get("audio_tokens") or 0)
        if not cached and given.get("cached_tokens"):
            text_cached = int(given["cached_tokens"])  # no split given: price it as text
        return cls(
            text_input=int(given.get("text_tokens") or 0) - text_cached,
            text_cached_input=text_cached,
            audio_input=int(given.get("audio_tokens") or 0) - audio_cached,
            audio_cached_input=audio_cached,
            text_output=int(produced.get("text_tokens") or 0),
            audio_output=int(produced.get("audio_tokens") or 0),
        )

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def input(self) -> int:
        return self.text_input + self.text_cached_input + self.audio_input + self.audio_cached_input

    @property
    def output(self) -> int:
        return self.text_output + self.audio_output

    def cost_usd(self, prices: ModelPrices) -> float:
        return sum(getattr(self, f.name) * getattr(prices, f.name) for f in fields(self)) / PER_MILLION

    def as_dict(self, prices: ModelPrices | None) -> dict[str, Any]:
        summary: dict[str, Any] = {**asdict(self), "input": self.input, "output": self.output,
                                   "total": self.input + self.output}
        summary["cost_usd"] = round(self.cost_usd(prices), 6) if prices is not None else None
        return summary


@dataclass
class UsageLedger:
    """Running sums: the last turn, this conversation, and today (local time)."""

    model: str
    prices: ModelPrices | None
    last_turn: Tokens
    conversation: Tokens
    today: Tokens
    day: dt.date
    responses: int = 0

    @classmethod
    def start(cls, model: str, price_table: Mapping[str, ModelPrices], today: dt.date) -> UsageLedger:
        return cls(model, price_table.get(model), Tokens(), Tokens(), Tokens(), today)

    def add(self, usage: Mapping[str, Any], today: dt.date) -> Tokens:
        """Count one `response.done` usage; the day's sum restarts when the date changes."""
        tokens = Tokens.from_usage(usage)
        self.roll_to(today)
        self.last_turn = tokens
        self.conversation = self.conversation + tokens
        self.today = self.today + tokens
        self.responses += 1
        return tokens

    def roll_to(self, today: dt.date) -> None:
        """A new day starts a new daily sum (and so a new budget)."""
        if today != self.day:
            self.today, self.day = Tokens(), today

    def reprice(self, model: str, price_table: Mapping[str, ModelPrices]) -> None:
        self.model, self.prices = model, price_table.get(model)

    def new_conversation(self) -> None:
        self.conversation = Tokens()

    @property
    def today_usd(self) -> float | None:
        return None if self.prices is None else self.today.cost_usd(self.prices)

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "priced": self.prices is not None,
            "responses": self.responses,
            "last_turn": self.last_turn.as_dict(self.prices),
            "conversation": self.conversation.as_dict(self.prices),
            "today": {**self.today.as_dict(self.prices), "date": self.day.isoformat()},
        }
