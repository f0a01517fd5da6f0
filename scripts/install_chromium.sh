#!/usr/bin/env bash
# Debian's Chromium for the browser test of the "SMS & Voice" page (tests/airflow_e2e/).
# Does nothing when a chromium is already on the PATH (or $CHROMIUM names one); otherwise
# installs the distribution's package with apt-get (as root, as CI runs). Playwright drives
# this binary: its own browser download is never used.
set -euo pipefail

if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then
    exit 0
fi
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium.sh: no chromium and no apt-get; install Chromium and set CHROMIUM=/path/to/it" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "Installing Debian's chromium package for the browser test..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium
