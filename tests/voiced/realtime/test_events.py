"""The event registry against the installed openai package's GA Realtime types."""

from __future__ import annotations

import typing

from voiced.realtime.events import CLIENT_EVENT_TYPES, SERVER_EVENT_TYPES


def event_types(union: object) -> set[str]:
    """The `type` literal of every model in one of openai's (annotated) event unions."""
    members = typing.get_args(union)
    if members and not hasattr(members[0], "model_fields"):  # Annotated[Union[...], discriminator]
        members = typing.get_args(members[0])
    return {typing.get_args(model.model_fields["type"].annotation)[0] for model in members}


def test_every_client_event_type_and_no_other() -> None:
    from openai.types.realtime import RealtimeClientEvent  # half a second: only for this test

    openai_types = event_types(RealtimeClientEvent)
    assert len(openai_types) > 5
    assert set(CLIENT_EVENT_TYPES) == openai_types, (
        f"new in openai: {sorted(openai_types - CLIENT_EVENT_TYPES)}; "
        f"gone from openai: {sorted(CLIENT_EVENT_TYPES - openai_types)}")


def test_every_server_event_type_and_no_other() -> None:
    from openai.types.realtime import RealtimeServerEvent

    openai_types = event_types(RealtimeServerEvent)
    assert len(openai_types) > 20
    assert set(SERVER_EVENT_TYPES) == openai_types, (
        f"new in openai: {sorted(openai_types - SERVER_EVENT_TYPES)}; "
        f"gone from openai: {sorted(SERVER_EVENT_TYPES - openai_types)}")

