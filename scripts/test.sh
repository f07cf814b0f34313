#!/usr/bin/env bash
# The README's second command: every test. Formatting and lints, native unit tests, then the
# integration suite against the release Worker in workerd with a fresh local D1 per run and
# upstream stand-ins on loopback. Extra arguments go to pytest (e.g. -k orders).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

bash scripts/setup.sh --test

log "cargo fmt --check, cargo clippy -D warnings"
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings

log "native unit tests"
cargo test --quiet

bash scripts/build.sh

log "python checks of the factory scripts"
bash -n scripts/taskctl.sh
.venv/bin/python -m py_compile scripts/*.py
.venv/bin/python scripts/embed_shared.py --check  # taskctl.sh's copy of factory_init's block

log "integration tests (workerd + local D1 + stand-ins)"
.venv/bin/python -m pytest tests -q -ra -p no:cacheprovider "$@"
