#!/usr/bin/env bash
# Install what voiced needs on Debian/Ubuntu (system packages, then a venv in .venv).
# Used by scripts/run.sh and, with --test, by scripts/test.sh; safe to run again.
# Only --test installs a PulseAudio server (the suite starts its own): on a desktop that
# runs PipeWire, installing pulseaudio would replace pipewire-pulse.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3 python3-venv python3-dev gcc portaudio19-dev libasound2-plugins)
if [ "${1:-}" = "--test" ]; then
    packages+=(pulseaudio pulseaudio-utils espeak-ng sox socat tmux util-linux mosquitto)
    packages+=(make)  # make -C docs html
fi
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
