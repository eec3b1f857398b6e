#!/usr/bin/env bash
# Set up and run voiced in the foreground; without OPENAI_API_KEY it talks to the
# bundled simulator (--simulate): your real microphone and speakers, no key, no network.
# Where PortAudio finds no microphone or speaker (no sound server, as in a container) and
# no flags are given, it runs the demo instead: a recorded question in, the answer to a WAV.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$#" -eq 0 ] && ! .venv/bin/python -m voiced.demo --check; then
    echo "No sound server answers here: running the demo, a recorded question in and the answer to a WAV file"
    exec .venv/bin/python -m voiced.demo
fi
if [ -z "${OPENAI_API_KEY:-}" ]; then
    echo "OPENAI_API_KEY is not set: running against the simulator (it echoes what you say)"
    set -- --simulate "$@"
fi
exec .venv/bin/voiced "$@"
