#!/usr/bin/env bash
# Set up and run voiced in the foreground; without OPENAI_API_KEY it talks to the
# bundled simulator (--simulate): your real microphone and speakers, no key, no network.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${OPENAI_API_KEY:-}" ]; then
    echo "OPENAI_API_KEY is not set: running against the simulator (it echoes what you say)"
    set -- --simulate "$@"
fi
exec .venv/bin/voiced "$@"
