#!/usr/bin/env bash
# The README's first command: set up this machine, build the Worker, apply the migrations to a
# local D1 and serve it with `wrangler dev` (real workerd) on 127.0.0.1:8787. Safe to rerun.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

PORT="${PORT:-8787}"
bash scripts/setup.sh
bash scripts/build.sh

if [ ! -f .dev.vars ]; then
  log "creating .dev.vars from .dev.vars.example (AUTH_MODE=open: no token locally)"
  cp .dev.vars.example .dev.vars
fi

log "applying migrations to the local D1 (.wrangler/state)"
CI=true wrangler d1 migrations apply DB --local

log "serving on http://127.0.0.1:$PORT"
exec wrangler dev --local --ip 127.0.0.1 --port "$PORT"
