"""The harness itself: PyAudio in a child process reaches the private server both ways.

PyAudio runs in a subprocess with ``pulse.env``, exactly as the daemon will, so these
tests prove the environment (PULSE_SERVER, ALSA config) and not just this process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.pulse import MIC_SINK, MIC_SOURCE, SPEAKER_SINK, SPEAKER_SOURCE, PulseServer
from tests.support.signals import active_spans, envelope_similarity, silence, speak, tone

LIST_DEVICES = """
import json, pyaudio
p = pyaudio.PyAudio()
print(json.dumps({
    "devices": [p.get_device_info_by_index(i) for i in range(p.get_device_count())],
    "default_output": p.get_default_output_device_info()["name"],
    "default_input": p.get_default_input_device_info()["name"],
}))
"""

PLAY_TONE = """
import json, math, struct, sys, pyaudio
rate, frames, seconds = 24000, 480, float(sys.argv[1])
p = pyaudio.PyAudio()
stream = p.open(format=pyaudio.paInt16, channels=1, rate=rate, output=True,
                frames_per_buffer=frames)
latency = stream.get_output_latency()
n = round(seconds * rate)
stream.write(struct.pack(f"<{n}h", *(int(16000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(n))))
# stop_stream() drops the last ~60 ms still buffered (measured with ALSA's pulse
# plugin), so trailing silence carries the tone's end out, as a live stream would.
stream.write(bytes(2 * rate // 5))
stream.stop_stream()
stream.close()
p.terminate()
print(json.dumps({"output_latency": latency}))
"""

RECORD = """
import json, sys, time, pyaudio
path, seconds = sys.argv[1], float(sys.argv[2])
rate, frames = 24000, 480
p = pyaudio.PyAudio()
stream = p.open(format=pyaudio.paInt16, channels=1, rate=rate, input=True,
                frames_per_buffer=frames)
stream.read(frames)
print("ready", flush=True)
with open(path, "wb") as out:
    for _ in range(round(seconds * rate / frames)):
        out.write(stream.read(frames, exception_on_overflow=False))
latency = stream.get_input_latency()
stream.close()
p.terminate()
print(json.dumps({"input_latency": latency}), flush=True)
"""


def run_pyaudio(pulse: PulseServer, script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a PyAudio script in a child with the server's env; fail with its stderr."""
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        env={**pulse.env, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        pytest.fail(f"PyAudio child failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_pyaudio_lists_the_pulse_devices(pulse: PulseServer) -> None:
    info = last_json(run_pyaudio(pulse, LIST_DEVICES).stdout)
    names = [device["name"] for device in info["devices"]]
    print("PyAudio devices:", names, "defaults:", info["default_output"], info["default_input"])
    assert "pulse" in names
    assert "default" in names
    assert info["default_output"] == info["default_input"] == "default"


def test_pyaudio_output_reaches_the_speaker_recorder(pulse: PulseServer) -> None:
    with pulse.record_speaker() as speaker:
        speaker.wait_for_data()
        before = time.time()
        result = run_pyaudio(pulse, PLAY_TONE, "1.0")
        after = time.time()
        time.sleep(0.3)
    recorded = speaker.pcm()
    latency = last_json(result.stdout)["output_latency"]
    print(f"PyAudio output latency at 480 frames @ 24 kHz: {latency * 1000:.1f} ms")

    spans = active_spans(recorded, pulse.rate)
    assert len(spans) == 1, spans
    start, end = spans[0]
    assert end - start == pytest.approx(1.0, abs=0.06)
    assert before < speaker.wall_time_of(start * pulse.rate) < after
    assert 0 < latency < 0.5


def test_speech_in_the_mic_reaches_pyaudio_input(pulse: PulseServer, tmp_path: Path) -> None:
    speech_path = tmp_path / "speech.wav"
    speech = speak("What is the weather like today?", speech_path)
    seconds = len(speech) / pulse.rate
    captured_path = tmp_path / "captured.raw"
    with pulse.record_mic() as mic:
        child = subprocess.Popen(
            [sys.executable, "-c", RECORD, str(captured_path), str(seconds + 0.5)],
            env=pulse.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", child.communicate()[1][-3000:]
        pulse.play_into_mic(speech_path).wait()
        stdout, stderr = child.communicate(timeout=30)
        assert child.returncode == 0, stderr[-3000:]
    captured = np.frombuffer(captured_path.read_bytes(), "<i2")
    print("PyAudio input latency:", last_json(stdout)["input_latency"])

    correlation, lag = envelope_similarity(speech, captured, pulse.rate)
    assert correlation > 0.9, (correlation, lag)
    assert 0 <= lag < 1.0
    # The mic recorder heard the same thing the PyAudio child did.
    mic_correlation, _ = envelope_similarity(speech, mic.pcm(), pulse.rate)
    assert mic_correlation > 0.9


def test_playback_start_time_matches_the_recorder_timeline(pulse: PulseServer) -> None:
    with pulse.record_mic() as mic:
        mic.wait_for_data()
        playback = pulse.play_into_mic(np.concatenate([tone(0.3), silence(0.2)]))
        playback.wait()
        time.sleep(0.1)
    spans = active_spans(mic.pcm(), pulse.rate)
    assert len(spans) == 1, spans
    onset = mic.wall_time_of(spans[0][0] * pulse.rate)
    print(f"tone onset on the mic timeline - pacat start: {(onset - playback.started_at) * 1000:.1f} ms")
    assert onset - playback.started_at == pytest.approx(0, abs=0.1)
    assert mic.sample_index_at(onset) == pytest.approx(spans[0][0] * pulse.rate, abs=1)
    local = mic.local_wall_time_of(spans[0][0] * pulse.rate)
    assert local - playback.started_at == pytest.approx(0, abs=0.1)
    assert local <= onset + 0.001  # the tightest anchor near the sample: never later than the first chunk's


@pytest.mark.parametrize(
    ("variable", "value", "direction"),
    [("PULSE_SINK", MIC_SINK, "output"), ("PULSE_SOURCE", SPEAKER_SOURCE, "input")],
)
def test_pulse_sink_and_source_variables_pass_through_alsa(
    pulse: PulseServer, tmp_path: Path, variable: str, value: str, direction: str
) -> None:
    """Overriding the env moves ALSA's default device, so a test may redirect the daemon."""
    if direction == "output":
        with pulse.record_mic() as mic, pulse.record_speaker() as speaker:
            mic.wait_for_data()
            speaker.wait_for_data()
            run_pyaudio(pulse, PLAY_TONE, "0.3", **{variable: value})
            time.sleep(0.3)
        assert active_spans(mic.pcm(), pulse.rate)
        assert not active_spans(speaker.pcm(), pulse.rate)
    else:
        captured_path = tmp_path / "captured.raw"
        child = subprocess.Popen(
            [sys.executable, "-c", RECORD, str(captured_path), "1.0"],
            env={**pulse.env, variable: value},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", child.communicate()[1][-3000:]
        pulse.play(SPEAKER_SINK, tone(0.3)).wait()
        _, stderr = child.communicate(timeout=30)
        assert child.returncode == 0, stderr[-3000:]
        assert active_spans(np.frombuffer(captured_path.read_bytes(), "<i2"), pulse.rate)


def test_env_points_only_at_the_private_server(pulse: PulseServer) -> None:
    overrides = pulse.env_overrides
    assert overrides["PULSE_SERVER"] == f"unix:{pulse.socket}"
    assert overrides["PULSE_SOURCE"] == MIC_SOURCE
    assert f"Default Sink: {SPEAKER_SINK}" in pulse.pactl("info")


def test_signal_helpers_find_spans_and_lag() -> None:
    rate = 24000
    played = np.concatenate([tone(0.2), silence(0.1), tone(0.3, 660)])
    assert [(round(s, 2), round(e, 2)) for s, e in active_spans(played, rate, min_gap_ms=50)] == [
        (0.0, 0.2),
        (0.3, 0.6),
    ]
    assert len(active_spans(played, rate, min_gap_ms=150)) == 1
    arrived = np.concatenate([silence(0.25), played // 4, silence(0.5)])
    correlation, lag = envelope_similarity(played, arrived, rate)
    assert correlation > 0.99
    assert lag == pytest.approx(0.25, abs=0.011)
