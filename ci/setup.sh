#!/usr/bin/env bash
# Installs what the build and the tests need beyond the Rust toolchain, if it is missing.
# Idempotent and quiet when everything is there; run by .ci/run and safe to run by hand.
set -euo pipefail

need_apt=()
command -v perl >/dev/null || need_apt+=(perl)        # builds the vendored OpenSSL of ssh2
command -v make >/dev/null || need_apt+=(make)
command -v cc >/dev/null || need_apt+=(gcc)
command -v kubectl >/dev/null || need_apt+=(kubernetes-client)   # sim/tests/kubectl/

if ((${#need_apt[@]})); then
  echo "ci/setup.sh: installing ${need_apt[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq "${need_apt[@]}"
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
