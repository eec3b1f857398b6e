"""Scripts: loading TOML/JSON, WAV answers resampled, transcripts reported, clear errors."""

from __future__ import annotations

import base64
import wave

import numpy as np
import pytest

from voiced.simulator import Script, ScriptError, Simulator


def _write_wav(path, seconds: float, rate: int = 16_000, channels: int = 2) -> None:
    t = np.arange(int(seconds * rate)) / rate
    mono = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.repeat(mono, channels).tobytes())


def test_toml_script_drives_transcript_and_answer(realtime, tmp_path):
    _write_wav(tmp_path / "answer.wav", 0.5)
    script_path = tmp_path / "script.toml"
    script_path.write_text(
        '[[turns]]\ntranscript = "what time is it"\n'
        'response = { text = "time to test", audio = "answer.wav" }\n'
        "[[turns]]\nresponse = { audio = { tone_s = 0.3, freq = 880 } }\n"
    )
    script = Script.load(script_path)
    assert len(script.turns[0].response.pcm) == 12_000 * 2  # 0.5 s at 24 kHz mono
    transcribe = {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}

    async def body(sim: Simulator, url: str) -> None:
        async with realtime.connect(url) as client:
            await client.send("session.update", session=transcribe)
            await client.until("session.updated")
            await client.append(realtime.speech_like())
            events = await client.until("response.done")
            completed = next(e for e in events if e["type"].endswith("transcription.completed"))
            assert completed["transcript"] == "what time is it"
            done = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
            assert done["transcript"] == "time to test"
            audio = b"".join(
                base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
            )
            assert audio == script.turns[0].response.pcm
            await client.append(realtime.speech_like())
            events = await client.until("response.done")
            audio = b"".join(
                base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
            )
            assert len(audio) == 300 * 48

    realtime.run(body, script=script)


def test_json_script_and_echo(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"turns": [{"transcript": "hi", "response": {"audio": "echo"}}]}')
    script = Script.load(path)
    assert script.turns[0].response.audio == "echo"
    assert script.turns[0].response.pcm is None


@pytest.mark.parametrize(
    ("content", "suffix", "needle"),
    [
        ("[[turns]]\nrespons = {}\n", ".toml", "respons"),
        ("[[turns]]\nresponse = { audio = 'missing.wav' }\n", ".toml", "missing.wav"),
        ("[[turns]\n", ".toml", "not valid"),
        ("{", ".json", "not valid"),
    ],
)
def test_bad_scripts_say_what_is_wrong_in_one_line(tmp_path, content, suffix, needle):
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(ScriptError) as error:
        Script.load(path)
    assert needle in str(error.value)
    assert "\n" not in str(error.value)


def test_unreadable_script(tmp_path):
    with pytest.raises(ScriptError, match="cannot read script"):
        Script.load(tmp_path / "absent.toml")
