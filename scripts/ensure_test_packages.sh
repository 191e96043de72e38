#!/usr/bin/env bash
# Installs the Debian packages the tests use, when they are missing: chromium + chromium-driver
# (browser tests) and redis-server (the Celery/Redis deployment tests start one on a loopback port).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "missing ${missing[*]} and not root: install these Debian packages first" >&2
    exit 1
  fi
fi
echo "installing ${missing[*]} (Debian packages) for the tests" >&2
$SUDO apt-get update -qq
# Debian starts redis-server as a service on install where it can; the tests start their own.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
