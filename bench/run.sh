#!/usr/bin/env bash
# The benchmark suite in one command (see BENCHMARKS.md):
#
#   bench/run.sh            full run: prints a table, writes bench-results/latest.json
#   bench/run.sh --smoke    CI smoke run: short windows, C host only, < 3 minutes;
#                           checks the suite works, not the numbers
#   bench/run.sh --profile  profiles behind the targets not met (perf, strace,
#                           smaps, valgrind massif) into bench-results/profiles/
#
# With FLUENT_BIT_BIN set (first path if several), the plugin is measured in
# that real Fluent Bit; otherwise in the C host tests/host/proxy_host.c.
# Other options go to bench/run.py (--help lists them).
#
# It builds the plugin (release), the C host and a do-nothing baseline
# plugin, installs the separate-process clients it compares with
# (npm: bench/node, PyPI: bench/.venv), then runs the measurements.
# Every peer listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '==> %s\n' "$*" >&2; }

out=bench-results/build
mkdir -p "$out"

step "build the plugin (cargo build --release)"
cargo build --release --quiet

step "build the C host and the baseline plugin"
cc -std=c11 -O1 -Wall -Wextra -Werror -Iinclude tests/host/proxy_host.c -o "$out/proxy_host" -ldl -lpthread
cc -std=c11 -O1 -Wall -Wextra -Werror -Iinclude -shared -fPIC bench/host/null_plugin.c -o "$out/null_plugin.so"

step "install the Node peers (@elastic/opamp-client-node, @elastic/mockopampserver)"
command -v npm >/dev/null || { echo "npm is required (apt-get install nodejs npm)" >&2; exit 2; }
(cd bench/node && npm ci --no-audit --no-fund --loglevel=error)

step "install the Python client (opentelemetry-opamp-client) into bench/.venv"
if [ ! -x bench/.venv/bin/python ]; then
    python3 -m venv bench/.venv
fi
bench/.venv/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt

script=bench/run.py
if [ "${1:-}" = "--profile" ]; then
    shift
    script=bench/profile.py
fi
exec python3 "$script" \
    --plugin target/release/libfluent_bit_opamp.so \
    --null-plugin "$out/null_plugin.so" \
    --proxy-host "$out/proxy_host" \
    --node-dir bench/node \
    --python-client bench/.venv/bin/python \
    "$@"
