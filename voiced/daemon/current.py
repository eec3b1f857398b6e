"""The conversation under way: its core, its id and its turns. `restart` replaces all three."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from voiced.conversation import Conversation
from voiced.turns import TurnRecorder


def new_conversation_id() -> str:
    return f"conv_{uuid.uuid4().hex[:16]}"


@dataclass
class CurrentConversation:
    """What the parts that follow the conversation hold on to across a restart."""

    conversation: Conversation
    id: str
    turns: TurnRecorder

    @classmethod
    def begin(cls, session: dict[str, Any]) -> CurrentConversation:
        conversation_id = new_conversation_id()
        return cls(Conversation(session), conversation_id, TurnRecorder(conversation_id))

    def replace(self, session: dict[str, Any]) -> None:
        """A new conversation; being paused or in standby carries over."""
        fresh = CurrentConversation.begin(session)
        fresh.conversation.paused = self.conversation.paused
        fresh.conversation.standby = self.conversation.standby
        self.conversation, self.id, self.turns = fresh.conversation, fresh.id, fresh.turns
