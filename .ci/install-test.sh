#!/usr/bin/env bash
# What the tests need beyond .ci/install.sh (run that first): speech synthesis (espeak-ng) for test
# audio, Chromium for the gallery test, a single-node SLURM (slurm-wlm, munge) for the cluster
# test, and the test and slurm extras in the same Python environment. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for package in espeak-ng chromium chromium-driver slurm-wlm munge; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
. .ci/python-env.sh
python3 -m pip install -q -e ".[test,slurm]"
