#!/usr/bin/env bash
# Benchmarks (not tests): prints figures for the API (latency, throughput, wasm size) and the
# native fuzzy path matcher. Safe to rerun. Everything runs on 127.0.0.1 with bounded durations.
#
#   REFERENCE_URL=http://127.0.0.1:8790 bash scripts/bench.sh
# also measures another running implementation of the same API (served by `wrangler dev` on the
# same machine, e.g. the TypeScript original) alternately with ours, and prints the ratios.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

bash scripts/setup.sh --test
bash scripts/build.sh
if ! command -v wrk >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  log "installing wrk (load generator)"
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null 2>&1 || log "wrk unavailable; using the Python client"
fi

log "API benchmark (workerd, local D1)${REFERENCE_URL:+, side by side with $REFERENCE_URL}"
.venv/bin/python tests/bench/bench_api.py

log "coordination: next-task claims under 8 agents, the orders overview with 1,000 orders"
.venv/bin/python tests/bench/bench_coordination.py

log "storage per row and the local write rate (inputs of docs/SCALING.md)"
.venv/bin/python tests/bench/bench_storage.py

log "factory_init.py on 10,000 tasks across 2,000 files"
.venv/bin/python tests/bench/bench_factory_init.py

log "fuzzy rename search: one missing path against 100,000 files (native)"
cargo bench --quiet --bench fuzzy_match
