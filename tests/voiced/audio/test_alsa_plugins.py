"""After PortAudio's device scan, ALSA keeps no plugin that no stream uses (about 11 MB of
libavcodec and friends behind `a52`, JACK's, OSS's...), and streams still open and run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.processes import DaemonProcess, SimulatorProcess, daemon_env
from tests.support.pulse import PulseServer

SCAN_THEN_RECORD = """
import json, threading, pyaudio
from voiced.audio.devices import start_portaudio

def plugins():
    return sorted({line.split()[-1].rsplit("/", 1)[1] for line in open("/proc/self/maps")
                   if "libasound_module_pcm_" in line})

pa, devices = start_portaudio()
after_scan = plugins()
heard = threading.Event()
stream = pa.open(format=pyaudio.paInt16, channels=1, rate=24000, input=True, frames_per_buffer=960,
                 stream_callback=lambda *a: (heard.set(), (None, pyaudio.paContinue))[1])
print(json.dumps({"devices": [d.name for d in devices], "after_scan": after_scan,
                  "heard": heard.wait(10), "while_recording": plugins()}))
stream.close()
pa.terminate()
"""


def test_the_scan_leaves_no_plugin_loaded_and_streams_still_open(pulse: PulseServer) -> None:
    done = subprocess.run([sys.executable, "-c", SCAN_THEN_RECORD], env=pulse.env,
                          capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(done.stdout.splitlines()[-1])
    assert "pulse" in result["devices"]
    assert result["after_scan"] == [], "the scan's plugins stay loaded"
    assert result["heard"], "no audio reached a stream opened after the plugins were let go"
    assert result["while_recording"] == ["libasound_module_pcm_pulse.so"]


def test_a_daemon_in_standby_holds_only_the_plugin_of_its_streams(
        tmp_path: Path, pulse: PulseServer, processes: list) -> None:
    simulator = SimulatorProcess(tmp_path)
    daemon = DaemonProcess(tmp_path, daemon_env(pulse.env, simulator), config='[listen]\nmode = "wake"\n',
                           wait_ready=False)
    processes += [simulator, daemon]
    daemon.wait_state("standby", timeout=30)
    maps = Path(f"/proc/{daemon.process.pid}/maps").read_text().splitlines()
    plugins = {line.split()[-1].rsplit("/", 1)[1] for line in maps if "libasound_module_pcm_" in line}
    assert plugins == {"libasound_module_pcm_pulse.so"}
