"""voiced.client against the simulator (a real process on loopback), under asyncio and trio."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from tests.support.processes import SimulatorProcess
from voiced.client import InvalidEvent, Session, SessionEnded, connect

pytestmark = pytest.mark.anyio

HANG_GUARD_S = 60  # only so a broken test ends; nothing asserts on time
LONG_ANSWER = {"turns": [{"response": {"text": "A very long story.", "audio": {"tone_s": 120.0}}}]}


@asynccontextmanager
async def session_on(simulator: SimulatorProcess, **options: Any) -> AsyncIterator[Session]:
    with anyio.fail_after(HANG_GUARD_S):
        async with connect(api_key="sk-test", base_url=simulator.base_url, **options) as session:
            yield session


async def next_of(session: Session, *types: str) -> dict[str, Any]:
    """The next server event of one of `types`, skipping the others."""
    async for event in session:
        if event["type"] in types:
            return event
    raise AssertionError(f"the session ended before {types}")


async def test_say_is_answered_with_a_transcript(simulator: SimulatorProcess) -> None:
    async with session_on(simulator, instructions="Answer briefly.") as session:
        await session.say("What is the capital of France?")
        done = await next_of(session, "response.output_audio_transcript.done")
        assert done["transcript"]
        assert (await next_of(session, "response.done"))["response"]["status"] == "completed"
    update = simulator.received("session.update")[0]["event"]
    assert update["session"]["instructions"] == "Answer briefly."
    assert update["session"]["audio"]["input"]["transcription"]  # transcription=True by default
    item = simulator.received("conversation.item.create")[0]["event"]["item"]
    assert item["content"][0]["text"] == "What is the capital of France?"


async def test_assistant_id_is_the_prompt_id(simulator: SimulatorProcess) -> None:
    async with session_on(simulator, assistant_id="pmpt_123"):
        pass
    assert simulator.received("session.update")[0]["event"]["session"]["prompt"] == {"id": "pmpt_123"}


async def test_events_arrive_in_order_from_session_created(simulator: SimulatorProcess) -> None:
    async with session_on(simulator, transcription=False) as session:
        first = await session.__anext__()
        await session.say("hello")
        await next_of(session, "response.done")
    assert first["type"] == "session.created"
    audio_input = simulator.received("session.update")[0]["event"]["session"]["audio"]["input"]
    assert "transcription" not in audio_input


async def test_send_refuses_what_the_service_would(simulator: SimulatorProcess) -> None:
    async with session_on(simulator) as session:
        with pytest.raises(InvalidEvent, match=r"Invalid value: 'no\.such\.event'"):
            await session.send({"type": "no.such.event"})
        with pytest.raises(InvalidEvent, match="'item_id'"):
            await session.send({"type": "conversation.item.delete"})
        await session.send({"type": "conversation.item.create", "event_id": "mine_1", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "typed"}]}})
        await next_of(session, "conversation.item.added")
    assert [r["event"]["event_id"] for r in simulator.received("conversation.item.create")] == ["mine_1"]


async def test_update_changes_the_session(simulator: SimulatorProcess) -> None:
    async with session_on(simulator) as session:
        await session.update(instructions="Speak like a pirate.")
        updated = await next_of(session, "session.updated")
        while updated["session"].get("instructions") != "Speak like a pirate.":
            updated = await next_of(session, "session.updated")
        with pytest.raises(InvalidEvent, match=r"session\.modalities"):
            await session.update(modalities=["text"])  # a beta key, refused by name


@pytest.mark.script(LONG_ANSWER)
@pytest.mark.parametrize(("played_ms", "answer"), [(40, "conversation.item.truncated"),
                                                   (0, "conversation.item.deleted")])
async def test_interrupt_cancels_and_cuts_the_item_at_what_was_heard(
        simulator: SimulatorProcess, played_ms: int, answer: str) -> None:
    async with session_on(simulator) as session:
        await session.say("Tell me a story.")
        delta = await next_of(session, "response.output_audio.delta")
        await session.interrupt(played_ms=played_ms)
        done = await next_of(session, "response.done")
        cut = await next_of(session, answer)
    assert done["response"]["status"] == "cancelled"
    assert cut["item_id"] == delta["item_id"]
    if played_ms:
        assert cut["audio_end_ms"] == played_ms
    assert simulator.received("response.cancel")


async def test_audio_is_appended_and_committed(simulator: SimulatorProcess) -> None:
    pcm = b"\x10\x00" * 2400  # 100 ms
    async with session_on(simulator) as session:
        with pytest.raises(ValueError, match="whole samples"):
            await session.append_audio(b"\x00")
        await session.append_audio(pcm)
        await session.commit()
        await next_of(session, "input_audio_buffer.committed")
    appended = simulator.received("input_audio_buffer.append")
    assert [base64.b64decode(r["event"]["audio"]) for r in appended] == [pcm]


async def test_manual_turns_commit_and_ask_for_the_answer(simulator: SimulatorProcess) -> None:
    async with session_on(simulator) as session:
        audio = dict(session._conversation.session["audio"])
        audio["input"] = {**audio["input"], "turn_detection": None}
        await session.update(audio=audio)
        await session.append_audio(b"\x10\x00" * 4800)
        await session.commit()
        assert (await next_of(session, "response.done"))["response"]["status"] == "completed"
    types = [r["event"]["type"] for r in simulator.events("in")]
    assert types.index("input_audio_buffer.commit") < types.index("response.create")


@pytest.mark.simulator_args("--max-session-s", "3")
async def test_rollover_reconnects_and_replays_the_conversation(simulator: SimulatorProcess) -> None:
    async with session_on(simulator) as session:
        await session.say("Remember the word banana.")
        await next_of(session, "conversation.item.added")  # the first session's events come first
        await next_of(session, "session.created")  # the second session, after the 1001 close
        await session.say("Which word?")
        await next_of(session, "response.done")
    second = [r for r in simulator.received("conversation.item.create")
              if r["session"] != simulator.received("conversation.item.create")[0]["session"]]
    texts = [r["event"]["item"]["content"][0]["text"] for r in second]
    assert texts[0] == "Remember the word banana."
    assert texts[-1] == "Which word?"


@pytest.mark.simulator_args("--api-key", "sk-right")
async def test_a_refused_key_is_fatal(simulator: SimulatorProcess) -> None:
    with pytest.raises(SessionEnded) as ended:
        async with session_on(simulator):
            pass
    assert ended.value.fatal


@pytest.mark.simulator_args("--fault", "action=error,code=insufficient_quota,after_response=1")
async def test_a_fatal_error_ends_the_iteration(simulator: SimulatorProcess) -> None:
    async with session_on(simulator) as session:
        await session.say("hello")
        with pytest.raises(SessionEnded, match="insufficient_quota") as ended:
            async for _ in session:
                pass
        assert ended.value.fatal
        with pytest.raises(SessionEnded):
            await session.say("again")


async def test_close_ends_the_iteration(simulator: SimulatorProcess) -> None:
    async with session_on(simulator) as session:
        await session.close()
        events = [event async for event in session]  # what arrived before the close, then the end
        await session.close()
    assert events[0]["type"] == "session.created"


async def test_an_error_in_the_block_is_raised_as_it_was(simulator: SimulatorProcess) -> None:
    with pytest.raises(KeyError):
        async with session_on(simulator):
            raise KeyError("mine")


async def test_no_server_is_a_clear_error() -> None:
    with anyio.fail_after(HANG_GUARD_S), pytest.raises(SessionEnded, match="cannot connect"):
        async with connect(api_key="sk-test", base_url="http://127.0.0.1:9/v1"):
            pass


@pytest.mark.parametrize(("options", "message"), [
    ({"base_url": "http://example.com/v1"}, "unencrypted"),
    ({"prompt_id": "pmpt_1", "assistant_id": "pmpt_2"}, "alias"),
    ({"api_key": None}, "OPENAI_API_KEY"),
])
async def test_bad_arguments_are_a_value_error(options: dict[str, Any], message: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match=message):
        async with connect(**{"api_key": "sk-test", **options}):
            pass


@pytest.mark.simulator_args("--api-key", "sk-right")
async def test_a_refused_key_is_in_no_error_or_log_line(simulator: SimulatorProcess,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(HANG_GUARD_S), pytest.raises(SessionEnded) as ended:
        async with connect(api_key="sk-wrong-secret", base_url=simulator.base_url):
            pass
    texts = [str(ended.value), repr(ended.value), caplog.text,
             *(repr(frame.frame.f_locals.get("options")) for frame in ended.traceback)]
    assert not [text for text in texts if "sk-wrong-secret" in text]
