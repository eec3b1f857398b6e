"""A private PulseAudio server with two null devices, for tests that use real audio.

The suite plays speech into the ``voiced_mic`` null sink (its monitor is the
daemon's microphone) and records the ``voiced_speaker`` monitor (where the daemon
plays). Everything runs at 24 kHz mono s16le, the Realtime API's own format, so no
resampler sits anywhere between a fixture and the daemon and sample positions line
up exactly.

Two traps measured on real servers are handled here:

- a null sink renders up to 2 s ahead of the wall clock until a low-latency stream
  pins it, so a silent ``pacat --latency-msec=10`` plays into each sink for the
  server's whole life;
- a recording's first sample can arrive long after ``parec`` starts, so a
  :class:`Recorder` anchors its timeline on the first data it receives.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np

from voiced.pcm import WIRE_RATE as RATE

MIC_SINK = "voiced_mic"
SPEAKER_SINK = "voiced_speaker"
MIC_SOURCE = f"{MIC_SINK}.monitor"
SPEAKER_SOURCE = f"{SPEAKER_SINK}.monitor"

INSTALL_HINT = "apt-get install -y pulseaudio pulseaudio-utils libasound2-plugins espeak-ng sox"
_PULSE_ALSA_PLUGIN = "/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so"


def _die_with_parent() -> None:
    """Let the kernel SIGTERM a helper if the test process dies without cleaning up.

    The server runs with --exit-idle-time=-1, so a killed pytest would otherwise leave
    it and its pinners running forever.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class MissingAudioTool(RuntimeError):
    """A binary or library the real-audio tests need is not installed."""


def require_tools(*names: str) -> None:
    """Raise :class:`MissingAudioTool` naming the Debian packages when a tool is missing."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        raise MissingAudioTool(f"missing {', '.join(missing)}; install with: {INSTALL_HINT}")


def _require_alsa_pulse_plugin() -> None:
    if not glob.glob(_PULSE_ALSA_PLUGIN):
        raise MissingAudioTool(
            f"ALSA's pulse plugin ({_PULSE_ALSA_PLUGIN}) is missing, so PyAudio cannot "
            f"reach PulseAudio; install with: {INSTALL_HINT}"
        )


class Playback:
    """A ``pacat`` playing PCM into a sink; ``started_at`` is when its first sample went out.

    ``started_at`` is the ``time.time()`` at which pacat reported its stream connected;
    the pinned null sink consumes from then on, so the first sample leaves within about
    one 10 ms latency period of it.
    """

    def __init__(self, process: subprocess.Popen[bytes], started_at: float, seconds: float):
        self.process = process
        self.started_at = started_at
        self.seconds = seconds

    def wait(self, timeout: float | None = None) -> int:
        """Wait until pacat has drained everything into the sink; returns its exit code."""
        timeout = self.seconds + 10 if timeout is None else timeout
        code = self.process.wait(timeout)
        if code != 0:
            raise RuntimeError(f"pacat exited with {code}")
        return code

    def stop(self) -> None:
        """Cut playback short."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Recorder:
    """Records a PulseAudio source continuously with ``parec`` on a reader thread.

    The timeline is anchored on the first data received: sample ``i`` was captured at
    ``anchor + i / rate``. The anchor is the arrival time of the first chunk minus that
    chunk's duration, so it is late by at most the source latency (about 10-20 ms).
    """

    def __init__(self, server: PulseServer, device: str, rate: int = RATE):
        self.device = device
        self.rate = rate
        self.anchor: float | None = None
        self._chunks: list[bytes] = []
        self._arrivals: list[tuple[int, float]] = []  # (samples received so far, time.time())
        self._received = 0
        self._lock = threading.Lock()
        self._first_data = threading.Event()
        self._process = subprocess.Popen(
            [
                "parec",
                f"--device={device}",
                "--raw",
                "--format=s16le",
                f"--rate={rate}",
                "--channels=1",
                "--latency-msec=10",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=server.env,
            preexec_fn=_die_with_parent,
        )
        self._thread = threading.Thread(target=self._read, name=f"parec {device}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        fd = self._process.stdout.fileno()
        pending = b""  # an odd trailing byte waits for its partner
        while True:
            chunk = os.read(fd, 65536)
            now = time.time()
            if not chunk:
                return
            chunk = pending + chunk
            usable = len(chunk) - len(chunk) % 2
            chunk, pending = chunk[:usable], chunk[usable:]
            with self._lock:
                if self.anchor is None:
                    self.anchor = now - (len(chunk) // 2) / self.rate
                    self._first_data.set()
                self._chunks.append(chunk)
                self._received += len(chunk) // 2
                self._arrivals.append((self._received, now))

    def wait_for_data(self, timeout: float = 5.0) -> float:
        """Block until the first sample arrived; returns the anchor (wall time of sample 0)."""
        if not self._first_data.wait(timeout):
            raise RuntimeError(f"parec on {self.device} delivered nothing in {timeout} s")
        assert self.anchor is not None
        return self.anchor

    def pcm(self) -> np.ndarray:
        """Everything recorded so far, as int16 mono."""
        with self._lock:
            data = b"".join(self._chunks)
        return np.frombuffer(data, dtype="<i2").astype(np.int16)

    def wall_time_of(self, sample_index: float) -> float:
        """The ``time.time()`` at which a sample was captured."""
        return self.wait_for_data() + sample_index / self.rate

    def local_wall_time_of(self, sample_index: float, window_s: float = 2.0) -> float:
        """Like `wall_time_of`, on a timeline anchored near the sample rather than at the start.

        Each chunk's arrival bounds when its samples were captured (never later), so the
        earliest such bound among the chunks within `window_s` is the tightest anchor
        there. The start-anchored timeline of the speaker's monitor was seen to drift by
        15 ms over a minute in which voiced's output stream started and stopped a dozen
        times (its buffer latency in `pactl list sink-inputs` stayed put); this one does
        not drift, and still never puts a sample earlier than it was captured.
        """
        low, high = sample_index - window_s * self.rate, sample_index + window_s * self.rate
        with self._lock:
            bounds = [at - received / self.rate for received, at in self._arrivals if low <= received <= high]
        if not bounds:
            return self.wall_time_of(sample_index)
        return min(bounds) + sample_index / self.rate

    def sample_index_at(self, wall_time: float) -> int:
        """The index of the sample captured at ``wall_time`` (may be negative or in the future)."""
        return round((wall_time - self.wait_for_data()) * self.rate)

    def stop(self) -> np.ndarray:
        """Stop parec and return the whole recording."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._thread.join(5)
        return self.pcm()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class PulseServer:
    """A private PulseAudio server in its own temp dir; never touches a user's server.

    Use as a context manager. ``env`` is the environment a child process (the daemon,
    or PyAudio in a subprocess) needs to reach this server through ALSA's pulse plugin.
    """

    def __init__(self, rate: int = RATE):
        self.rate = rate
        self.dir: Path | None = None
        self._server: subprocess.Popen[bytes] | None = None
        self._pinners: list[subprocess.Popen[bytes]] = []

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> PulseServer:
        """Start the server, create both null sinks and pin them; raise with the log if not."""
        require_tools("pulseaudio", "pacat", "parec", "pactl")
        _require_alsa_pulse_plugin()
        self.dir = Path(tempfile.mkdtemp(prefix="voiced-pulse-"))
        try:
            self._start_server()
            self._pin_sinks()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_server(self) -> None:
        assert self.dir is not None
        (self.dir / "asound.conf").write_text(
            # The Debian hook only makes "default" pulse when a server answers, and some
            # systems lack the hook; ours makes "default" pulse unconditionally.
            'pcm.!default { type pulse hint { show on description "voiced test PulseAudio" } }\n'
            "ctl.!default { type pulse }\n"
        )
        # Without autospawn=no a client that cannot reach us would start a user server.
        (self.dir / "client.conf").write_text("autospawn = no\n")
        script = self.dir / "server.pa"
        script.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            + "".join(
                f"load-module module-null-sink sink_name={name} rate={self.rate} channels=1"
                f" format=s16le sink_properties=device.description={name}\n"
                for name in (MIC_SINK, SPEAKER_SINK)
            )
            + f"set-default-sink {SPEAKER_SINK}\n"
            + f"set-default-source {MIC_SOURCE}\n"
        )
        server_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C",
            "HOME": str(self.dir),
            "XDG_RUNTIME_DIR": str(self.dir),
            "XDG_CONFIG_HOME": str(self.dir / ".config"),
            "XDG_STATE_HOME": str(self.dir / ".state"),
            "PULSE_RUNTIME_PATH": str(self.dir / "runtime"),
            "PULSE_STATE_PATH": str(self.dir / "state"),
        }
        self._log = open(self.dir / "pulseaudio.log", "wb")  # noqa: SIM115 - lives with the server
        self._server = subprocess.Popen(
            [
                "pulseaudio",
                "-n",  # no default.pa: only our modules, so no hardware and no suspend-on-idle
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--disallow-exit",
                "--use-pid-file=no",
                "--log-target=stderr",
                "--log-level=warning",
                "-F",
                str(script),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=server_env,
            preexec_fn=_die_with_parent,
            cwd=self.dir,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._server.poll() is not None:
                raise RuntimeError(f"pulseaudio exited with {self._server.returncode}:\n{self.log}")
            if self.socket.exists() and self._pactl_ok("info"):
                return
            time.sleep(0.05)
        raise RuntimeError(f"pulseaudio did not answer within 10 s:\n{self.log}")

    def _pin_sinks(self) -> None:
        for sink in (MIC_SINK, SPEAKER_SINK):
            self._pinners.append(
                subprocess.Popen(
                    [
                        "pacat",
                        "--playback",
                        f"--device={sink}",
                        "--raw",
                        "--format=s16le",
                        f"--rate={self.rate}",
                        "--channels=1",
                        "--latency-msec=10",
                        "--client-name=voiced-test-pinner",
                        "/dev/zero",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=self.env,
                    preexec_fn=_die_with_parent,
                )
            )
        deadline = time.monotonic() + 10
        while len(self.pactl("list", "short", "sink-inputs").splitlines()) < len(self._pinners):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the silent pacat pinners did not connect:\n{self.log}")
            time.sleep(0.02)
        # A null sink only adopts the pinners' latency after finishing the 2 s block it was
        # rendering; a suspend/resume cycle restarts it at once (saves ~2 s of start-up).
        for sink in (MIC_SINK, SPEAKER_SINK):
            self.pactl("suspend-sink", sink, "1")
            self.pactl("suspend-sink", sink, "0")
        # A monitor delivering data promptly proves the sinks run pinned.
        for source in (MIC_SOURCE, SPEAKER_SOURCE):
            with Recorder(self, source, self.rate) as probe:
                probe.wait_for_data()

    def stop(self) -> None:
        """Kill the pinners and the server and remove the temp dir."""
        for process in [*self._pinners, self._server]:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._pinners.clear()
        self._server = None
        with contextlib.suppress(AttributeError):
            self._log.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PulseServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what clients need ---------------------------------------------------------

    @property
    def socket(self) -> Path:
        """The native-protocol socket clients connect to."""
        assert self.dir is not None, "server not started"
        return self.dir / "native"

    @property
    def env_overrides(self) -> dict[str, str]:
        """Only the variables that point a client at this server (for monkeypatch.setenv)."""
        assert self.dir is not None, "server not started"
        return {
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_CLIENTCONFIG": str(self.dir / "client.conf"),
            # The server wrote its cookie here; anonymous auth makes it optional, but a
            # client that finds none would otherwise look in (and create) the user's home.
            "PULSE_COOKIE": str(self.dir / ".config" / "pulse" / "cookie"),
            # Else libpulse links a runtime dir into ~/.config/pulse when XDG_RUNTIME_DIR is unset.
            "PULSE_RUNTIME_PATH": str(self.dir / "runtime"),
            "PULSE_SINK": SPEAKER_SINK,
            "PULSE_SOURCE": MIC_SOURCE,
            "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{self.dir / 'asound.conf'}",
            # PortAudio probes ALSA's jack PCM; never let that start a JACK server.
            "JACK_NO_START_SERVER": "1",
        }

    @property
    def env(self) -> dict[str, str]:
        """A full environment for a child process: ``os.environ`` plus :attr:`env_overrides`."""
        return {**os.environ, **self.env_overrides}

    @property
    def log(self) -> str:
        """The server's log so far (warnings and errors)."""
        if self.dir is None:
            return ""
        path = self.dir / "pulseaudio.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def pactl(self, *args: str) -> str:
        """Run ``pactl`` against this server and return its output."""
        return subprocess.run(
            ["pactl", *args], env=self.env, check=True, capture_output=True, text=True, timeout=10
        ).stdout

    @contextlib.contextmanager
    def echo_path(self, volume: str, latency_ms: int = 40) -> Iterator[str]:
        """A room: the speaker heard by the microphone `latency_ms` later at `volume` (a
        pactl volume: "50%", "-6.0dB"); yields the loopback module's index, unloads it after."""
        module = self.pactl("load-module", "module-loopback", f"source={SPEAKER_SOURCE}", f"sink={MIC_SINK}",
                            f"latency_msec={latency_ms}", "source_dont_move=true",
                            "sink_dont_move=true").strip()
        try:
            deadline = time.monotonic() + 5
            while (stream := self._input_of_module(module)) is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("the loopback's stream did not appear")
                time.sleep(0.02)
            self.pactl("set-sink-input-volume", stream, volume)
            yield module
        finally:
            self.pactl("unload-module", module)

    def _input_of_module(self, module: str) -> str | None:
        listing = self.pactl("list", "sink-inputs")
        for index, owner in re.findall(r"Sink Input #(\d+)\n(?:\t.*\n)*?\tOwner Module: (\d+)", listing):
            if owner == module:
                return index
        return None

    def unload_sink(self, sink: str) -> None:
        """Remove a null sink as if its device were unplugged (the server moves its streams away)."""
        for line in self.pactl("list", "short", "modules").splitlines():
            index, name, *args = line.split("\t")
            if name == "module-null-sink" and f"sink_name={sink} " in f"{args[0] if args else ''} ":
                self.pactl("unload-module", index)
                return
        raise RuntimeError(f"no null sink {sink!r} to unload")

    def load_sink(self, sink: str) -> None:
        """Create a null sink again (plugged back in) as :meth:`start` did, and pin every sink again.

        The server moves the streams that follow the default sink (a pinner among them) to
        a sink named like the configured default when it returns: each sink left without a
        pinner gets a new one, or its monitor would deliver in 2 s bursts.
        """
        self.pactl("load-module", "module-null-sink", f"sink_name={sink}", f"rate={self.rate}", "channels=1",
                   "format=s16le", f"sink_properties=device.description={sink}")
        pinned = set(re.findall(r"\tSink: (\d+)\n(?:\t.*\n)*?\t\tapplication\.name = \"voiced-test-pinner\"",
                                self.pactl("list", "sink-inputs")))
        indexes = {line.split("\t")[1]: line.split("\t")[0]
                   for line in self.pactl("list", "short", "sinks").splitlines()}
        for name in (MIC_SINK, SPEAKER_SINK):
            if indexes.get(name) in pinned and name != sink:
                continue
            self._pinners.append(subprocess.Popen(
                ["pacat", "--playback", f"--device={name}", "--raw", "--format=s16le", f"--rate={self.rate}",
                 "--channels=1", "--latency-msec=10", "--client-name=voiced-test-pinner", "/dev/zero"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=self.env, preexec_fn=_die_with_parent))
            deadline = time.monotonic() + 10
            while not any(line.split("\t")[1] == indexes[name]
                          for line in self.pactl("list", "short", "sink-inputs").splitlines()):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nothing pins {name!r}:\n{self.log}")
                time.sleep(0.02)
            self.pactl("suspend-sink", name, "1")  # adopt the pinner's latency now (see _pin_sinks)
            self.pactl("suspend-sink", name, "0")
        for name in (MIC_SINK, SPEAKER_SINK):
            with Recorder(self, f"{name}.monitor", self.rate) as probe:
                probe.wait_for_data()

    def _pactl_ok(self, *args: str) -> bool:
        try:
            self.pactl(*args)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            return False
        return True

    # -- playing and recording -------------------------------------------------------

    def play_into_mic(self, audio: str | Path | np.ndarray, rate: int | None = None) -> Playback:
        """Play a WAV file or PCM16 mono into the microphone; returns once it started.

        ``rate`` is the rate of raw PCM (default: the server's); a WAV carries its own.
        """
        return self.play(MIC_SINK, audio, rate)

    def play(self, sink: str, audio: str | Path | np.ndarray, rate: int | None = None) -> Playback:
        """Play a WAV file or PCM16 mono into ``sink`` at 10 ms latency; returns once started."""
        assert self.dir is not None, "server not started"
        if isinstance(audio, np.ndarray):
            pcm, rate = audio.astype("<i2"), rate or self.rate
        else:
            with wave.open(str(audio), "rb") as wav:
                if wav.getsampwidth() != 2:
                    raise ValueError(f"{audio}: only 16-bit WAV is supported")
                channels, rate = wav.getnchannels(), wav.getframerate()
                pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
            if channels > 1:
                pcm = pcm.reshape(-1, channels).mean(axis=1).astype("<i2")
        raw = Path(tempfile.mkstemp(suffix=".raw", dir=self.dir)[1])
        raw.write_bytes(pcm.tobytes())
        process = subprocess.Popen(
            [
                "pacat",
                "--playback",
                "--verbose",
                f"--device={sink}",
                "--raw",
                "--format=s16le",
                f"--rate={rate}",
                "--channels=1",
                "--latency-msec=10",
                "--client-name=voiced-test-player",
                str(raw),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=self.env,
            preexec_fn=_die_with_parent,
        )
        assert process.stderr is not None
        lines = []
        for line in iter(process.stderr.readline, b""):
            lines.append(line.decode(errors="replace"))
            if b"Connected to device" in line:
                break
        started_at = time.time()
        if process.poll() not in (None, 0):
            raise RuntimeError(f"pacat failed:\n{''.join(lines)}")
        # Keep draining its stderr so a chatty pacat never blocks on a full pipe.
        threading.Thread(target=process.stderr.read, daemon=True).start()
        return Playback(process, started_at, len(pcm) / rate)

    def record(self, device: str) -> Recorder:
        """Start recording a source (e.g. ``voiced_speaker.monitor``) at the server's rate."""
        return Recorder(self, device, self.rate)

    def record_speaker(self) -> Recorder:
        """Record what the daemon plays."""
        return self.record(SPEAKER_SOURCE)

    def record_mic(self) -> Recorder:
        """Record exactly what the microphone carried."""
        return self.record(MIC_SOURCE)
