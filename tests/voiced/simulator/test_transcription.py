"""Input transcription timing from the script: late (after the answer) or failed, always by item_id."""

from __future__ import annotations

from voiced.simulator import Script, Simulator

TRANSCRIBE = {"type": "realtime", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}


def test_late_transcript_arrives_after_the_answer_with_the_user_item_id(realtime):
    script = Script.from_data({"turns": [{"transcript": "late words", "transcript_delay_s": 0.6}]})

    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("session.update", session=TRANSCRIBE)
            await client.until("session.updated")
            await client.append(realtime.speech_like())
            events = await client.until("response.done")
            types = [e["type"] for e in events]
            assert not [t for t in types if "input_audio_transcription" in t]
            committed = events[types.index("input_audio_buffer.committed")]
            late = await client.until("conversation.item.input_audio_transcription.completed")
            assert [e["type"] for e in late] == [
                "conversation.item.input_audio_transcription.delta",
                "conversation.item.input_audio_transcription.completed",
            ]
            assert {e["item_id"] for e in late} == {committed["item_id"]}
            assert late[-1]["transcript"] == "late words"
        sent = [e for e in sim.events if e.dir == "out"]
        done = next(e for e in sent if e.type == "response.done")
        completed = next(e for e in sent if e.type.endswith("transcription.completed"))
        assert completed.t - done.t > 0.3

    realtime.run(body, script=script)


def test_failed_transcript_is_an_error_object_for_that_item(realtime):
    script = Script.from_data({"turns": [{"transcript_fails": True}, {"transcript": "second"}]})

    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("session.update", session=TRANSCRIBE)
            await client.until("session.updated")
            await client.append(realtime.speech_like())
            events = await client.until("response.done")
            committed = next(e for e in events if e["type"] == "input_audio_buffer.committed")
            failed = [e for e in events if "input_audio_transcription" in e["type"]]
            assert [e["type"] for e in failed] == ["conversation.item.input_audio_transcription.failed"]
            assert failed[0]["item_id"] == committed["item_id"]
            assert failed[0]["error"]["code"] == "transcription_failed"
            await client.append(realtime.speech_like())
            events = await client.until("response.done")
            completed = next(e for e in events if e["type"].endswith("transcription.completed"))
            assert completed["transcript"] == "second"

    realtime.run(body, script=script)
