"""Server events passed on to the bus as they are: they change nothing in the conversation."""

from __future__ import annotations

from typing import Any

from .actions import Action, Publish


def user_transcript_delta(_: object, event: dict[str, Any]) -> list[Action]:
    return [Publish("user.transcript.delta", {"item_id": event.get("item_id"),
                                              "delta": str(event.get("delta") or "")})]


def user_transcript(_: object, event: dict[str, Any]) -> list[Action]:
    return [Publish("user.transcript.completed", {"item_id": event.get("item_id"),
                                                  "text": str(event.get("transcript") or "")})]


def user_transcript_failed(_: object, event: dict[str, Any]) -> list[Action]:
    error = event.get("error") or {}
    return [Publish("user.transcript.failed", {"item_id": event.get("item_id"),
                                               "message": str(error.get("message") or "failed")})]


def rate_limits(_: object, event: dict[str, Any]) -> list[Action]:
    return [Publish("rate_limits.updated", {"rate_limits": event.get("rate_limits") or []})]
