#!/usr/bin/env bash
# `make data`: when `auto` would fall back to the digits stand-in (no CIFAR-10 in the data folder, no
# Fashion-MNIST anywhere), installs Debian's dataset-fashion-mnist package where it can: as root, or
# with sudo that needs no password, and apt-get present. Otherwise one line says how to get better data.
# Never fails: training then runs on digits, and every figure says so.
#   usage: scripts/ensure_data.sh PYTHON [DATASET]
set -uo pipefail
PY=${1:?usage: ensure_data.sh PYTHON [DATASET]}
DATASET=${2:-auto}
PACKAGE=dataset-fashion-mnist
case "$DATASET" in auto | fashion-mnist) ;; *) exit 0 ;; esac
if [ "$DATASET" = auto ]; then
  choice=$("$PY" -c 'from analysis.data.datasets import auto_choice; print(auto_choice()[0])') || exit 0
  [ "$choice" = digits ] || exit 0
elif "$PY" -c 'import sys; from analysis.data.fashion_mnist import find_fashion_mnist; sys.exit(find_fashion_mnist() is None)'; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  # -n: never stop `make` at a password prompt.
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="no"; fi
fi
if [ "$SUDO" != no ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Fashion-MNIST (Debian package $PACKAGE, 30 MB) for the demo" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Try the package lists already there first; update them only when that fails.
  if $SUDO apt-get install -y -qq "$PACKAGE" >/dev/null 2>&1 ||
    { $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq "$PACKAGE" >/dev/null 2>&1; }; then
    exit 0
  fi
  echo "could not install $PACKAGE with apt-get" >&2
fi
echo "no CIFAR-10 or Fashion-MNIST here: training on the digits stand-in (8x8 digits, not CIFAR-10); for better data run \`sudo apt-get install $PACKAGE\` or see docs/data.md" >&2
exit 0
