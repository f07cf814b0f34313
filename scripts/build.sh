#!/usr/bin/env bash
# Builds the release Worker into build/ (wrangler.toml's build command), unless it is newer
# than every input already, so restarting `wrangler dev` costs nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

out=build/index_bg.wasm
# build.rs writes the OpenAPI document into the assets (dashboard/openapi.json, not in git); if
# that file went missing, make cargo run build.rs again.
[ -f dashboard/openapi.json ] || touch build.rs
if [ -f "$out" ] && [ -f build/worker/shim.mjs ] \
  && [ -z "$(find src build.rs Cargo.toml Cargo.lock openapi.yaml -newer "$out" -print -quit)" ]; then
  exit 0
fi
[ -n "${WASM_BINDGEN_BIN:-}" ] || die "wasm-bindgen not found: run scripts/setup.sh"
log "building the Worker (release wasm)"
worker-build --release
# worker-build's wasm-opt step is off (Cargo.toml): it passes --debuginfo, and the function names
# it keeps make -O leave code it would otherwise remove. Optimise here without names, and drop
# the producers section, with the same wasm features worker-build enables (`strip = true` in
# Cargo.toml would hide the target_features section wasm-bindgen reads).
features=(mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types
  exception-handling)
"$WASM_OPT_BIN" "$out" -O --strip-debug --strip-producers "${features[@]/#/--enable-}" -o "$out.tmp"
mv "$out.tmp" "$out"
