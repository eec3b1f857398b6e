"""What the fuzz tests share: their hypothesis settings, and JSON and server events to fuzz with.

In the suite the profile is quick and repeatable (100 examples a property, derandomized,
no example database). `bench/fuzz.py` sets ``VOICED_FUZZ_EXAMPLES`` before the tests are
imported, for a long run with fresh examples every time.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES_VARIABLE = "VOICED_FUZZ_EXAMPLES"
QUICK_EXAMPLES = 100

_long_examples = os.environ.get(EXAMPLES_VARIABLE)
FUZZ = settings(
    max_examples=int(_long_examples or QUICK_EXAMPLES),
    deadline=None,
    database=None,
    derandomize=_long_examples is None,
    print_blob=_long_examples is not None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example, HealthCheck.function_scoped_fixture],
)
"""The settings of every fuzz property (stateful ones take it as their `settings`)."""

# -- JSON ---------------------------------------------------------------------------

json_scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=8)
                | st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
"""Any JSON value a strict parser can produce (no NaN, no infinities)."""
wrong_values: st.SearchStrategy[Any] = st.sampled_from(
    [None, False, True, 0, -1, 2**70, 0.5, "", "x", [], [None], {}, {"id": []}])
"""A value of each JSON type, to stand where a field of another type belongs (cheaper to
draw than any JSON value, and as good at finding a missing type check)."""

# -- Realtime server events ---------------------------------------------------------

MISSING: Any = object()
RESPONSE_IDS = st.sampled_from(["resp_1", "resp_2", "resp_3"])
ITEM_IDS = st.sampled_from(["item_1", "item_2", "item_3"])
CALL_IDS = st.sampled_from(["call_1", "call_2"])
OUR_EVENT_IDS = st.integers(1, 150).map(lambda n: f"voiced_{n}")
"""Ids of events voiced sent (`ClientEvents` numbers them), so an `error` can name one."""
ERROR_CODES = st.sampled_from([
    "conversation_already_has_active_response", "response_cancel_not_active", "session_expired",
    "item_truncate_invalid_item_id", "input_audio_buffer_commit_empty", "invalid_api_key",
])
MILLISECONDS = st.integers(0, 100_000)


def _usually(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly `valid`; sometimes of a wrong type, sometimes missing."""
    return st.one_of(valid, valid, valid, wrong_values, st.just(MISSING))


def obj(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object whose members are usually valid, sometimes of a wrong type or missing."""
    members = st.fixed_dictionaries({name: _usually(value) for name, value in fields.items()})
    return members.map(lambda found: {k: v for k, v in found.items() if v is not MISSING})


def event(type_: str | st.SearchStrategy[str], **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[
        dict[str, Any]]:
    """A server event of `type_` (always a string: the connection drops any other)."""
    types = st.just(type_) if isinstance(type_, str) else type_
    return st.builds(lambda t, rest: {"type": t, **rest}, types, obj(**fields))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


audio_payloads = st.one_of(
    st.binary(max_size=960).map(lambda pcm: _b64(pcm[: len(pcm) // 2 * 2])),
    st.binary(max_size=961).map(_b64),  # half a sample at the end
    st.text(alphabet="QUJDRA=+/*- \n", max_size=12),  # not base64, or not strictly
)
"""Audio deltas: whole samples (up to 20 ms), an odd number of bytes, or not base64."""

server_events = st.one_of(
    event("session.created", session=obj(id=st.sampled_from(["sess_1", "sess_2"]))),
    event("input_audio_buffer.speech_started", item_id=ITEM_IDS, audio_start_ms=MILLISECONDS),
    event("input_audio_buffer.speech_stopped", item_id=ITEM_IDS, audio_end_ms=MILLISECONDS),
    event("response.created", response=obj(id=RESPONSE_IDS, status=st.just("in_progress"))),
    event("response.output_item.added", response_id=RESPONSE_IDS, output_index=st.integers(0, 2),
          item=obj(id=ITEM_IDS, type=st.sampled_from(["message", "function_call"]),
                   role=st.sampled_from(["assistant", "user"]))),
    event(st.sampled_from(["response.output_audio.delta", "response.audio.delta"]),
          response_id=RESPONSE_IDS, item_id=ITEM_IDS, delta=audio_payloads),
    event(st.sampled_from(["response.output_audio_transcript.delta", "response.output_text.delta",
                           "response.audio_transcript.delta"]),
          response_id=RESPONSE_IDS, item_id=ITEM_IDS, delta=st.text(max_size=12)),
    event(st.sampled_from(["response.output_audio_transcript.done", "response.output_text.done"]),
          response_id=RESPONSE_IDS, item_id=ITEM_IDS, transcript=st.text(max_size=24),
          text=st.text(max_size=24)),
    event("response.done", response=obj(
        id=RESPONSE_IDS, status=st.sampled_from(["completed", "cancelled", "failed", "incomplete"]),
        usage=obj(total_tokens=st.integers(0, 10_000), input_tokens=st.integers(0, 10_000)))),
    event(st.sampled_from(["conversation.item.input_audio_transcription.delta",
                           "conversation.item.input_audio_transcription.completed",
                           "conversation.item.input_audio_transcription.failed"]),
          item_id=ITEM_IDS, delta=st.text(max_size=8), transcript=st.text(max_size=16),
          error=obj(message=st.text(max_size=8))),
    event("response.function_call_arguments.done", response_id=RESPONSE_IDS, item_id=ITEM_IDS,
          call_id=CALL_IDS, name=st.sampled_from(["clock_now", "lights"]),
          arguments=st.sampled_from(["{}", '{"tz": "UTC"}', "[" * 3000, "not json"])),
    event("rate_limits.updated", rate_limits=st.lists(obj(name=st.text(max_size=8),
                                                          remaining=st.integers(0, 100)), max_size=2)),
    event("error", error=obj(type=st.just("invalid_request_error"), code=ERROR_CODES,
                             message=st.text(max_size=12), event_id=OUR_EVENT_IDS)),
    event(st.sampled_from(["session.updated", "conversation.item.added", "conversation.item.done",
                           "input_audio_buffer.committed", "response.output_audio.done",
                           "response.content_part.added", "output_audio_buffer.cleared"]),
          item_id=ITEM_IDS, response_id=RESPONSE_IDS),
    st.builds(lambda t, rest: {**rest, "type": t}, st.text(max_size=12),
              st.dictionaries(st.text(max_size=8), json_values, max_size=4)),
)
"""GA server events the conversation handles, and others, with plausible ids from small
pools (so they refer to each other), each field sometimes wrong or missing."""
