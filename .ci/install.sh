#!/usr/bin/env bash
# Installs what the workflow needs on Debian 12 / Ubuntu (apt as root, or with sudo): ffmpeg, then
# PyTorch and this package into the active virtual environment, or into .venv (made here).
# The tests need more: .ci/install-test.sh. Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

apt_install() {
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

apt_install ffmpeg python3-venv
. .ci/python-env.sh
echo "installing into $(python3 -c 'import sys; print(sys.prefix)')"
# torch first, so the project's torch range is already satisfied when the package is installed.
# A torch already in the environment (e.g. a CUDA build on a GPU machine) is kept; otherwise the
# pinned CPU build.
python3 -m pip install -q --upgrade pip
python3 -c "import torch" 2>/dev/null || python3 -m pip install -q "torch==2.13.0"
python3 -m pip install -q -e .
