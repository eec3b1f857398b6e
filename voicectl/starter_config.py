"""The commented starter config that `voicectl config init` writes.

This module is the source: the repository's config.example.toml is the same text (it is
not installed; this module is), and tests/voicectl/test_voicectl_config.py fails when
the two differ. After editing TEXT, regenerate the example:
`python -m voicectl.starter_config > config.example.toml`.
"""

# ruff: noqa: E501 (the template's lines are as long as config.example.toml's)

from __future__ import annotations

import sys

TEXT = """\
# voiced configuration: ~/.config/voiced/config.toml (or --config PATH, or $VOICED_CONFIG).
# Every key can also be set as VOICED_<SECTION>__<KEY>, e.g. VOICED_AUDIO__INPUT_DEVICE=usb.
# Precedence, lowest first: defaults < this file < .env < environment < command line.
# Every value below is the default unless marked "example". In paths, ~ is your home
# folder, and a relative path starts at this file's folder.

# Verbose logging and diagnostics (same as --debug).
debug_mode = false

[api]
# The OpenAI API key. Prefer the OPENAI_API_KEY environment variable; a key here
# makes this file a secret (chmod 600). Never printed: `voicectl config show` masks it.
# Store it with `voicectl config set api.key -` (it reads standard input or prompts).
# key = "sk-..."
base_url = "https://api.openai.com/v1"   # any Realtime-compatible server: https:// or wss:// (http:// and ws:// only to loopback)
model = "gpt-realtime"
timeout = 10.0                            # seconds to connect, and to wait for a keep-alive pong
rollover_after_s = 3300.0                 # sessions end at 60 min: start a new one at a quiet moment after this

[assistant]
# instructions = "You are a concise assistant on my desktop."   # example (--instructions)
voice = "marin"                           # fixed once the session has spoken
# prompt_id = "pmpt_..."                  # example: a stored prompt, the API's "assistant id"
output_modalities = ["audio"]             # ["audio"] (speech and its transcript) or ["text"]
# default = "pirate"                      # example: use [assistants.pirate] unless --assistant says otherwise

# Named profiles with the same keys as [assistant], chosen with --assistant NAME.
# [assistants.pirate]
# instructions = "Answer like a pirate."
# voice = "cedar"

[audio]
# input_device = "usb"                    # example: PortAudio index or case-insensitive name substring
# output_device = "pulse"                 # example; unset means the system default
# input_device = "file:question.wav"     # virtual: a WAV played in real time, then silence ("?loop" repeats it)
# output_device = "file:answer.wav"      # virtual: what voiced says, written as it plays; "null": nothing
sample_rate = 24000                       # tried first; other device rates are resampled to 24 kHz
channels = 1
chunk_ms = 40                             # audio period: smaller is snappier, larger is cheaper
vad_threshold = 0.5                       # server VAD sensitivity, 0..1 (higher needs louder speech)
turn_detection = "server_vad"             # "server_vad" | "semantic_vad" | "manual" (push-to-talk)
noise_reduction = "far_field"             # "near_field" (headset) | "far_field" (laptop, room) | "off"
echo = "aec"                              # "aec" (speakers: talk over it) | "gate" (no canceller) | "off" (headset)

[transcription]
enabled = true                            # transcribe what you say (user.transcript.* events)
model = "gpt-4o-mini-transcribe"
# language = "en"                         # example: ISO-639-1 hint

[listen]
mode = "always"                           # "always" | "wake" | "push_to_talk"
idle_timeout_s = 300.0                    # wake mode: back to standby after this long without speech
cues = true                               # short sounds on wake and sleep
# wake_word = "okay_nabu"                 # offline wake word: okay_nabu | hey_jarvis | hey_mycroft | alexa;
                                          # unset: any voice wakes voiced from standby
# wake_word_threshold = 0.85              # the model's probability needed to wake (unset: its own)

[budget]
# daily_usd = 2.0                         # example: stop listening when the day's estimate reaches it

# US dollars per million tokens, per model, for the cost estimate.
[prices.gpt-realtime]
audio_input = 32.0
audio_cached_input = 0.40
audio_output = 64.0
text_input = 4.0
text_cached_input = 0.40
text_output = 16.0

[recording]
enabled = false                           # same as --save-recordings
# dir = "~/.local/share/voiced/recordings"   # example

[control]
# socket = "/run/user/1000/voiced/control.sock"   # example; default $XDG_RUNTIME_DIR/voiced/control.sock

[logging]
level = "info"                            # "debug" | "info" | "warning" | "error"
# file_path = "~/.local/state/voiced/log/voiced.log"   # example; default when not under journald

[plugins]
disabled = []                             # plugin names not to load
dirs = []                                 # extra folders of drop-in *.py plugins (yours, not writable by group or others)
# [plugins.NAME] tables configure one plugin each.

# MCP servers whose tools the model may call (README: "Tools and MCP");
# servers: one [mcp.servers.NAME] table each. Home Assistant, for example:
# [mcp.servers.home]
# url = "http://homeassistant.local:8123/mcp_server/sse"   # streamable HTTP, or SSE for a path ending in /sse
# transport = "auto"                      # "auto" | "streamable_http" | "sse"
# confirm = ["HassTurnOff", "HassTurnOn"]   # these run only after the user's yes
# tools = ["HassTurnOff", "HassTurnOn", "GetLiveContext"]   # an allowlist; unset: every tool
# call_timeout_s = 30.0
# [mcp.servers.home.headers]
# Authorization = "Bearer YOUR-LONG-LIVED-TOKEN"   # a secret: masked, never logged
#
# A server voiced starts itself and speaks to over stdio:
# [mcp.servers.notes]
# command = ["notes-mcp", "--stdio"]
# env = { NOTES_DIR = "/home/me/notes" }   # plain values, shown by `voicectl config show`
# secret_env = { NOTES_TOKEN = "..." }    # secrets passed in the environment too: masked, never logged
# Home Assistant over MQTT: the bundled mqtt plugin, on when host is set (README "Home Assistant").
[mqtt]
# host = "homeassistant.local"            # example: the broker; unset: no bridge
port = 1883
# username = "voiced"                     # example
# password = "..."                        # a secret: masked by `voicectl config show`, never logged
tls = false
# ca_file = "/etc/ssl/certs/home-ca.pem"  # example: the CA for tls; unset: the system's
# node_id = "kitchen"                     # example; default: the host name reduced to a-z 0-9 _ -
discovery_prefix = "homeassistant"
# base_topic = "voiced/kitchen"           # example; default: voiced/<node_id>
"""

if __name__ == "__main__":
    sys.stdout.write(TEXT)
