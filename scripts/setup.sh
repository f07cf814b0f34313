#!/usr/bin/env bash
# Installs what building and running the Worker needs; does nothing that is already done.
#   wasm32 target, worker-build, the wasm-bindgen CLI matching Cargo.lock, npm devDependencies
#   (wrangler + workerd, Node 22, esbuild, wasm-opt, playwright-core). With --test also the
#   Python test venv and Debian's chromium for the dashboard's browser tests.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

WORKER_BUILD_VERSION=0.8.7

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(worker-build --version 2>/dev/null | awk '{print $NF}')" != "$WORKER_BUILD_VERSION" ]; then
  log "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION"
fi

# worker-build refuses a CLI that differs from the library, so read the version from the lock.
[ -f Cargo.lock ] || cargo generate-lockfile
want_bindgen="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)"
[ -n "$want_bindgen" ] || die "could not read the wasm-bindgen version from Cargo.lock"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $NF}')" != "$want_bindgen" ]; then
  log "installing wasm-bindgen-cli $want_bindgen (a few minutes, once)"
  # Without --locked: its own lock names a crate version the registry mirror lacks.
  cargo install wasm-bindgen-cli --version "$want_bindgen"
fi

# npm ci only when the lock changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm devDependencies (wrangler, workerd, node 22, esbuild, wasm-opt, playwright-core)"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ "${1:-}" = "--test" ]; then
  if [ ! -x .venv/bin/python ] || [ tests/requirements.txt -nt .venv/.installed ]; then
    log "installing Python test dependencies into .venv"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
    touch .venv/.installed
  fi
  # playwright-core drives this browser; it never downloads one of its own.
  if [ ! -x /usr/bin/chromium ]; then
    command -v apt-get >/dev/null || die "/usr/bin/chromium missing: install Debian's chromium package"
    log "installing chromium (apt) for the dashboard's browser tests"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium
  fi
fi
