#!/usr/bin/env bash
# Revocation under load (benches/revocation_load.rs): re-check demand at twice what the introspection
# endpoint can answer (new clients' first-check latency p50/p99, re-checks shed), and two rounds of
# MEM_N (default 20000) short-lived tokens (RSS growth of the second round with and without
# revocation; fails above +1 MiB). REVOCATION_BENCH=overload|memory|all; the other knobs are in the
# benchmark. Release build; needs the Authlib server's Python packages (ci/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

. ci/raise-nofile.sh  # one socket per live session here and in mosquitto
echo "ci/bench-revocation.sh: ulimit -n $(ulimit -Sn), REVOCATION_BENCH=${REVOCATION_BENCH:-all}"
# cargo bench builds the plugin (cdylib) in target/release/deps/, where the harness finds it.
cargo bench --locked --bench revocation_load
