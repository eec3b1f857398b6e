"""Every event type of the GA Realtime API, client and server, with what each one means.

The registry the library and the documentation read; a test compares it with the
``openai`` package's ``openai.types.realtime`` unions, so it fails the day OpenAI adds
or removes an event type.
"""

from __future__ import annotations

CLIENT_EVENTS: dict[str, str] = {
    "session.update": "Change the session's configuration (instructions, voice, audio formats, tools).",
    "input_audio_buffer.append": "Add base64 audio to the input buffer.",
    "input_audio_buffer.commit": "Make the input buffer a user message item (needed without server VAD).",
    "input_audio_buffer.clear": "Drop the audio in the input buffer.",
    "conversation.item.create": "Add an item: a message, a function call or a function call's output.",
    "conversation.item.retrieve": "Ask the server for an item as it holds it.",
    "conversation.item.truncate": "Cut an assistant audio item to what the user heard.",
    "conversation.item.delete": "Remove an item from the conversation.",
    "response.create": "Ask for a response.",
    "response.cancel": "Stop a response under way.",
    "output_audio_buffer.clear": "Stop the server's output audio (WebRTC and SIP only).",
}
"""Client event type -> what it asks for."""

SERVER_EVENTS: dict[str, str] = {
    "error": "Something went wrong; `error.code` says what, `error.event_id` names the client event.",
    "session.created": "The session is up: the first event of every connection.",
    "session.updated": "A `session.update` was applied.",
    "conversation.created": "The conversation of the session was created.",
    "conversation.item.created": "An item was added (the older name of `conversation.item.added`).",
    "conversation.item.added": "An item was added to the conversation.",
    "conversation.item.done": "An item is complete.",
    "conversation.item.retrieved": "The item a `conversation.item.retrieve` asked for.",
    "conversation.item.truncated": "An assistant audio item was cut to what was heard.",
    "conversation.item.deleted": "An item was removed.",
    "conversation.item.input_audio_transcription.delta": "More of the transcript of the user's audio.",
    "conversation.item.input_audio_transcription.completed": "The whole transcript of the user's audio.",
    "conversation.item.input_audio_transcription.failed": "The user's audio could not be transcribed.",
    "conversation.item.input_audio_transcription.segment": "A segment of a diarized user transcript.",
    "input_audio_buffer.committed": "The input buffer became a user message item.",
    "input_audio_buffer.cleared": "The input buffer was emptied.",
    "input_audio_buffer.speech_started": "Server VAD heard the user start speaking.",
    "input_audio_buffer.speech_stopped": "Server VAD heard the user stop speaking.",
    "input_audio_buffer.timeout_triggered": "The user was silent for the configured idle timeout.",
    "input_audio_buffer.dtmf_event_received": "A DTMF key was pressed (SIP calls).",
    "output_audio_buffer.started": "The server began playing audio (WebRTC and SIP only).",
    "output_audio_buffer.stopped": "The server's output audio finished (WebRTC and SIP only).",
    "output_audio_buffer.cleared": "The server's output audio was cleared (WebRTC and SIP only).",
    "response.created": "A response began.",
    "response.done": "A response ended (completed, cancelled, incomplete or failed), with its usage.",
    "response.output_item.added": "A response added an output item.",
    "response.output_item.done": "An output item of a response is complete.",
    "response.content_part.added": "An output item gained a content part.",
    "response.content_part.done": "A content part is complete.",
    "response.output_text.delta": "More of a text answer.",
    "response.output_text.done": "A text answer is complete.",
    "response.output_audio.delta": "More audio of an answer (base64 PCM16).",
    "response.output_audio.done": "An answer's audio is complete.",
    "response.output_audio_transcript.delta": "More of the transcript of an answer's audio.",
    "response.output_audio_transcript.done": "The whole transcript of an answer's audio.",
    "response.function_call_arguments.delta": "More of a function call's arguments.",
    "response.function_call_arguments.done": "A function call's arguments are complete.",
    "response.mcp_call_arguments.delta": "More of an MCP tool call's arguments.",
    "response.mcp_call_arguments.done": "An MCP tool call's arguments are complete.",
    "response.mcp_call.in_progress": "An MCP tool call is running.",
    "response.mcp_call.completed": "An MCP tool call succeeded.",
    "response.mcp_call.failed": "An MCP tool call failed.",
    "mcp_list_tools.in_progress": "The server is listing an MCP server's tools.",
    "mcp_list_tools.completed": "An MCP server's tools were listed.",
    "mcp_list_tools.failed": "An MCP server's tools could not be listed.",
    "rate_limits.updated": "The rate limits left after a response.",
}
"""Server event type -> what it says."""

CLIENT_EVENT_TYPES = frozenset(CLIENT_EVENTS)
SERVER_EVENT_TYPES = frozenset(SERVER_EVENTS)
