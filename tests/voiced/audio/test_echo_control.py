"""EchoControl between a simulated output callback and microphone: reference tap, timing, modes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.support.signals import envelope_similarity, silence
from voiced.audio import echo as echo_module
from voiced.audio.aec import EchoCancellerUnavailable
from voiced.audio.echo import AEC_IDLE_S, EchoControl, EchoMode, mode_for
from voiced.audio.gate import TAIL_S
from voiced.audio.levels import level_dbfs
from voiced.audio.reference import PlayedAudio
from voiced.config import AudioConfig
from voiced.pcm import WIRE_RATE as RATE

FRAME = RATE // 50
OUTPUT_LATENCY_S = 0.04
INPUT_LATENCY_S = 0.04


def run(control: EchoControl, played: np.ndarray, heard: np.ndarray) -> np.ndarray:
    """Drive `control` as the daemon's callbacks would, 20 ms a tick on a shared clock.

    The output callback hands chunk k to the device at tick k; it sounds
    OUTPUT_LATENCY_S later. The microphone frame heard during tick i is delivered
    INPUT_LATENCY_S after it ends. `heard` is on the sounding timeline.
    """
    ticks = len(heard) // FRAME
    out = []
    for tick in range(ticks + 10):
        now = tick * 0.02
        chunk = played[tick * FRAME:(tick + 1) * FRAME]
        chunk = np.concatenate([chunk, np.zeros(FRAME - len(chunk), dtype=np.int16)])
        control.played.push(chunk.astype(np.int16).tobytes(), now + OUTPUT_LATENCY_S)
        heard_index = round((now - INPUT_LATENCY_S) / 0.02) - 1
        if 0 <= heard_index < ticks:
            frame = heard[heard_index * FRAME:(heard_index + 1) * FRAME]
            out.append(np.frombuffer(control.process(frame.tobytes(), now), dtype=np.int16))
    return np.concatenate(out)


def sounding(played: np.ndarray) -> np.ndarray:
    """`played` on the timeline where it sounds."""
    return np.concatenate([silence(OUTPUT_LATENCY_S), played])


def control(mode: EchoMode, *, canceller: bool = True) -> EchoControl:
    """Echo control as the audio devices set it up, the canceller started (`attach`)."""
    echo = EchoControl(mode, PlayedAudio(RATE, 20), input_latency_s=INPUT_LATENCY_S,
                       output_latency_s=OUTPUT_LATENCY_S)
    if echo.wants_canceller and canceller:
        echo.attach(echo.new_canceller())
    return echo


def loud_frames(pcm: np.ndarray, threshold_dbfs: float = -45) -> list[float]:
    frames = pcm[: len(pcm) // FRAME * FRAME].reshape(-1, FRAME)
    return [round(level_dbfs(f), 1) for f in frames if level_dbfs(f) > threshold_dbfs]


@pytest.fixture
def scene(assistant_speech: np.ndarray, user_speech: np.ndarray, through_room: Callable,
          mixer: Callable) -> dict[str, np.ndarray]:
    """4 s of the assistant alone, then the user over it; the user alone later."""
    played = assistant_speech[: 6 * RATE]
    echo = through_room(sounding(played), delay_s=0.03, gain_db=-20)
    user = np.concatenate([silence(4.0), user_speech[: RATE * 2]])
    later = len(echo) + round((TAIL_S + AEC_IDLE_S + 0.5) * RATE)
    user = np.concatenate([user, silence((later - len(user)) / RATE), user_speech])
    return {"played": played, "echo": echo, "user": user, "heard": mixer(echo, user)}


def test_off_passes_everything_untouched(scene: dict[str, np.ndarray]) -> None:
    echo = control("off")
    out = run(echo, scene["played"], scene["heard"])
    assert np.array_equal(out, scene["heard"][: len(out)])
    assert echo.describe() == {"mode": "off", "aec_active": False, "frames_gated": 0,
                               "frames_cancelled": 0, "echo_gain_db": 0.0, "aec_erle_db": None,
                               "echo_left_db": None}


@pytest.mark.parametrize("mode", ["gate", "aec"])
def test_the_echo_is_removed_and_the_user_kept(scene: dict[str, np.ndarray], mode: EchoMode) -> None:
    echo = control(mode)
    out = run(echo, scene["played"], scene["heard"])
    assert len(out) == len(scene["heard"]) // FRAME * FRAME, "frames must keep their length"

    assistant_alone = out[: 4 * RATE]
    assert not loud_frames(assistant_alone), "echo got through"
    over = slice(4 * RATE, 6 * RATE)
    user_over = out[over][: RATE]  # the first second: a real barge-in stops the playback by then
    # the energy gate decides after a silence and at a stop: some of those frames go
    assert len(loud_frames(user_over)) >= 0.35 * len(loud_frames(scene["user"][over][:RATE]))
    alone = slice(len(scene["echo"]) + round((TAIL_S + AEC_IDLE_S + 0.5) * RATE), len(out))
    assert np.array_equal(out[alone], scene["heard"][alone]), "without playback frames pass untouched"
    correlation, _ = envelope_similarity(scene["user"][over], out[over], RATE, max_lag_s=0.05)
    assert correlation > 0.5

    status = echo.describe()
    assert status["mode"] == mode
    assert status["aec_active"] is False, "the canceller sleeps once the playback is long over"
    assert (status["frames_cancelled"] > 0) == (mode == "aec")
    assert status["frames_gated"] > 0 or mode == "aec"


def test_aec_falls_back_to_the_gate_when_it_cannot_start(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(*_: object) -> None:
        raise EchoCancellerUnavailable("no livekit here")

    monkeypatch.setattr(echo_module, "EchoCanceller", unavailable)
    echo = control("aec")
    assert echo.mode == "gate" and echo.canceller is None and not echo.wants_canceller


def test_until_the_canceller_is_started_the_fit_decides_alone(scene: dict[str, np.ndarray]) -> None:
    """The canceller is started when standby first ends, in a worker thread; the frames
    before it arrives are judged by the fit, and a voice goes as the fit left it."""
    echo = control("aec", canceller=False)
    out = run(echo, scene["played"], scene["heard"])
    assert echo.wants_canceller and echo.canceller is None and echo.mode == "aec"
    assert not loud_frames(out[: 4 * RATE]), "echo got through"
    over = slice(4 * RATE, 5 * RATE)
    assert len(loud_frames(out[over])) >= 0.5 * len(loud_frames(scene["user"][over]))


def test_the_reference_is_bounded_and_drained_in_order() -> None:
    played = PlayedAudio(RATE, 20)
    for index in range(1000):
        played.push(bytes([index % 256]) * 2, float(index))
    chunks = played.drain()
    assert 4 <= len(chunks) <= 200
    assert [c.audible_at for c in chunks] == sorted(c.audible_at for c in chunks)
    assert chunks[-1].audible_at == 999.0
    assert played.drain() == []


def test_the_canceller_wakes_without_the_sound_it_fell_asleep_on(
        assistant_speech: np.ndarray, through_room: Callable, mixer: Callable) -> None:
    """Guards issue 10 (echo): the canceller sleeps once the playback is long over, and the
    user may be talking as it does. Woken for the next answer, AEC3 sent what it held from
    before its sleep (the user's voice, at -25 dBFS) in place of the quiet frame it was
    given: a self-interruption as the next answer began."""
    answer = assistant_speech[: 3 * RATE]
    pause = silence(TAIL_S + AEC_IDLE_S + 2.0)
    played = np.concatenate([answer, pause, answer])
    echo = through_room(sounding(played), delay_s=0.03, gain_db=-6)
    asleep_at = OUTPUT_LATENCY_S + len(answer) / RATE + TAIL_S + AEC_IDLE_S
    voice = np.sin(2 * np.pi * 300 * np.arange(RATE) / RATE) * 3000  # a steady voice as it falls asleep
    user = np.concatenate([silence(asleep_at - 0.5), voice])
    heard = mixer(echo, user)
    control_ = control("aec")
    out = run(control_, played, heard)
    second = OUTPUT_LATENCY_S + (len(answer) + len(pause)) / RATE  # its echo comes 30 ms later
    woken = [round(level_dbfs(out[index * FRAME:(index + 1) * FRAME]), 1)
             for index in range(round((second - 0.4) / 0.02), round(second / 0.02))]
    assert level_dbfs(heard[round((second - 0.4) * RATE):round(second * RATE)]) < -60, "the room is quiet"
    assert control_.frames_cancelled > 0
    assert max(woken) < -55, f"the quiet room before the second answer came out as {woken} dBFS"


def test_a_frame_waits_for_the_reference_of_what_sounded_while_it_was_heard() -> None:
    """Guards issue 10 (echo): the output callback hands its buffers over in bursts. A frame
    cleaned before the reference of its moment had arrived was cleaned against silence: the
    canceller and the fit took the echo in it for a voice, and the late reference was laid
    where the microphone had already passed (a self-interruption at the start of answers)."""
    control_ = control("aec")
    tone = (np.sin(2 * np.pi * 440 * np.arange(FRAME) / RATE) * 8000).astype(np.int16).tobytes()
    now = 100.0
    for tick in range(60):  # the output stream runs: 1.2 s of silence, handed in step
        control_.played.push(bytes(2 * FRAME), now + tick * 0.02 + OUTPUT_LATENCY_S)
        assert control_.process(bytes(2 * FRAME), now + tick * 0.02) == bytes(2 * FRAME)
    now += 1.2
    frame = tone  # heard while a tone sounded whose buffers have not been handed over yet
    assert control_.process(frame, now) == b"", "the frame must wait for its reference"
    for tick in range(4):  # the burst arrives: 80 ms of the tone, then silence
        control_.played.push(tone if tick < 2 else bytes(2 * FRAME), now - 0.06 + tick * 0.02)
    out = control_.process(bytes(2 * FRAME), now + 0.02)
    assert len(out) == 2 * len(frame), "the waiting frame comes out with the next one"


def test_no_frame_waits_when_the_output_stream_is_stopped() -> None:
    control_ = control("aec")
    control_.played.push(bytes(20 * FRAME), 50.0)
    assert control_.process(bytes(2 * FRAME), 50.0) == bytes(2 * FRAME)
    assert control_.process(bytes(2 * FRAME), 60.0) == bytes(2 * FRAME), "nothing is being played"


def test_a_frame_waits_no_longer_than_its_limit() -> None:
    control_ = control("aec")
    for tick in range(10):
        control_.played.push(bytes(2 * FRAME), 10.0 + tick * 0.02 + OUTPUT_LATENCY_S)
        control_.process(bytes(2 * FRAME), 10.0 + tick * 0.02)
    later = [control_.process(bytes(2 * FRAME), 10.2 + tick * 0.02) for tick in range(12)]
    assert later[0] == b"" and sum(len(out) for out in later) >= 2 * FRAME * 6, "frames stayed held"


def test_with_no_echo_at_all_the_user_passes_over_the_assistant(
        assistant_speech: np.ndarray, user_speech: np.ndarray) -> None:
    """Guards issue 10: with a headset, or speakers the microphone does not hear, the fit
    has no echo to learn from and never decides; the canceller's record is empty too. The
    energy gate on what the microphone heard decides then, as in `gate` mode: behind AEC3
    (which holds a voice back for 150-300 ms) the user could not interrupt at all."""
    played = assistant_speech[: 4 * RATE]
    user = np.concatenate([silence(2.0), user_speech[: 2 * RATE]])
    echo = control("aec")
    out = run(echo, played, user)
    over = slice(2 * RATE, 3 * RATE)
    assert len(loud_frames(out[over], -40)) >= 0.5 * len(loud_frames(user[over], -40)), "the user was gated"


def test_frames_that_are_not_whole_blocks_are_cut_into_blocks(scene: dict[str, np.ndarray]) -> None:
    """Guards a review finding: a device at its own rate (44.1 or 48 kHz, resampled) delivers
    frames of 830 samples; the canceller returns whole 10 ms blocks only, and every frame of
    another length skipped the fit: barge-in fell back to the energy gate after a wake."""
    echo = control("aec")
    odd = 415  # samples at 24 kHz per period: not a multiple of 240
    played, heard = scene["played"], scene["heard"]
    out, now = [], 0.0
    for start in range(0, len(heard) - odd, odd):
        now = start / RATE + odd / RATE + INPUT_LATENCY_S
        echo.played.push(played[start:start + odd].astype(np.int16).tobytes(), now - INPUT_LATENCY_S
                         - odd / RATE + OUTPUT_LATENCY_S)
        out.append(np.frombuffer(echo.process(heard[start:start + odd].tobytes(), now), dtype=np.int16))
    cleaned = np.concatenate(out)
    assert len(cleaned) % 240 == 0 and len(heard) - len(cleaned) < 2 * odd + RATE // 5
    assert echo.fit.explains_echo, "the fit never learned the echo"
    assert not loud_frames(cleaned[: 4 * RATE - odd]), "echo got through"
    over = slice(4 * RATE, 5 * RATE)
    assert len(loud_frames(cleaned[over])) >= 0.5 * len(loud_frames(scene["user"][over]))


def test_a_cue_heard_in_the_echo_tail_is_not_sent_while_the_canceller_is_starting(
        assistant_speech: np.ndarray, user_speech: np.ndarray, through_room: Callable,
        mixer: Callable) -> None:
    """Guards a review finding: before the canceller arrives a voice goes as the fit left it,
    which is built from the raw microphone: a cue played in the assistant's echo tail must
    still go without its tones, as the cue removal left the frame."""
    from voiced.audio.cues import WAKE_CUE

    answer = assistant_speech[: RATE]
    cue = np.frombuffer(WAKE_CUE, dtype=np.int16)
    played = np.concatenate([answer, cue[: len(cue) // FRAME * FRAME]])
    echo_ = through_room(sounding(played), delay_s=0.03, gain_db=-3)
    at = len(answer) + round(OUTPUT_LATENCY_S * RATE)
    user = np.concatenate([silence(at / RATE), user_speech[: len(cue)] * 0.5])
    heard = mixer(echo_, user)
    control_ = control("aec", canceller=False)
    out = run(control_, played, heard)
    cue_part = out[at:at + len(cue)].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(cue_part))
    freqs = np.fft.rfftfreq(len(cue_part), 1 / RATE)
    tone = sum(spectrum[np.argmin(np.abs(freqs - f))] for f in (660.0, 880.0))
    assert tone < 0.4 * spectrum.max(), "the cue's tones went to the server"


@pytest.mark.parametrize(("configured", "input_device", "output_device", "in_effect"), [
    ("aec", None, None, "aec"),
    ("gate", "pulse", "default", "gate"),
    ("aec", "null", None, "off"),
    ("aec", None, "file:/tmp/answer.wav", "off"),
    ("gate", "file:/tmp/question.wav?loop", "null", "off"),
    ("off", None, None, "off"),
])
def test_a_virtual_device_on_either_side_leaves_no_echo_to_control(
        configured: EchoMode, input_device: str | None, output_device: str | None, in_effect: str) -> None:
    config = AudioConfig(echo=configured, input_device=input_device, output_device=output_device)
    assert mode_for(config) == in_effect
