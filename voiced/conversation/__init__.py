"""The conversation, as pure code: states and turns (`core`), the assistant's voice and
how to cut it off (`speech`), and the actions both return (`actions`).

`Conversation` is fed server events, microphone frames and local commands; it answers
with actions that the daemon carries out. It never touches a socket, a device or the
clock, so every decision here is tested by feeding it events.
"""

from .actions import Action, CallTool, Message, Play, Publish, Send, State, StopPlayback
from .core import Conversation
from .speech import heard_text

__all__ = ["Action", "CallTool", "Conversation", "Message", "Play", "Publish", "Send", "State",
           "StopPlayback", "heard_text"]
