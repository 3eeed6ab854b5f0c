#!/usr/bin/env bash
# Installs everything the workflow and its tests need on Debian 12 (run as root, or with sudo).
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(ffmpeg sox espeak-ng chromium chromium-driver slurm-wlm munge)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# torch first, so the project's torch range is already satisfied when the package is installed.
# An existing torch (e.g. a CUDA build on a GPU machine) is kept; otherwise the pinned CPU build.
python3 -m pip install -q --upgrade pip
python3 -c "import torch" 2>/dev/null || python3 -m pip install -q "torch==2.13.0"
python3 -m pip install -q -e ".[test,slurm]"
