#!/usr/bin/env bash
# The test command: installs the test peers, then runs every test.
# Real Fluent Bit tests run too when FLUENT_BIT_BIN is set (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

# The independent OpAMP server for the interop test (pinned in package-lock).
# Without npm the interop test is ignored (build.rs looks for the package).
if command -v npm >/dev/null 2>&1; then
    (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --all-targets -- --test-threads 2 2>&1 | tee "$log"
# The doc tests of the library (cargo test --all-targets leaves them out).
cargo test --doc 2>&1 | tee -a "$log"

# What ran, summed from the runner's own counts. Tests that need a missing
# tool (FLUENT_BIT_BIN, npm) are ignored, never passed: "skipped" below.
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     END { printf "\ntotal: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
