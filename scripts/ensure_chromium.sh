#!/usr/bin/env bash
# Installs Debian's chromium + chromium-driver for the browser tests, when they are missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "chromium/chromedriver missing and not root: install Debian's chromium and chromium-driver" >&2
    exit 1
  fi
fi
echo "installing chromium + chromium-driver (Debian packages) for the browser tests" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
