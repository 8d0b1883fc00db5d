#!/usr/bin/env bash
# The test command: installs the test peers, then runs every test.
# Real Fluent Bit tests run too when FLUENT_BIT_BIN is set (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

# The independent OpAMP server for the interop test (pinned in package-lock).
if command -v npm >/dev/null 2>&1; then
    (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
else
    echo "WARNING: npm not found; the interop test against @elastic/mockopampserver will be SKIPPED" >&2
fi

if [ -z "${FLUENT_BIT_BIN:-}" ]; then
    echo "SKIPPED: FLUENT_BIT_BIN is not set, so the real Fluent Bit tests (tests/real_*.rs," >&2
    echo "SKIPPED: tests/call_order.rs, tests/status_real_fluent_bit.rs, tests/remote_dry_run.rs," >&2
    echo "SKIPPED: tests/remote_real_reload.rs) only print SKIPPED and pass. See README." >&2
fi

cargo test --all-targets -- --test-threads 2
# The doc tests of the library (cargo test --all-targets leaves them out).
cargo test --doc
