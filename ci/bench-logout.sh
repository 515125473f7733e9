#!/usr/bin/env bash
# Back-channel logout at scale: LOGOUT_N live sessions (default 10000) on one mosquitto with this
# plugin, LOGOUT_COUNT logouts (default 1000) published back to back; reports the kick delay after
# each logout (p50, p90, p99, max; target: each <= 1 s) and that no other client was kicked.
# Release build. The knobs are in benches/logout_kicks.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
export LOGOUT_N="${LOGOUT_N:-10000}" LOGOUT_COUNT="${LOGOUT_COUNT:-1000}"
. ci/raise-nofile.sh  # one socket per client here and in mosquitto
echo "ci/bench-logout.sh: ulimit -n $(ulimit -Sn), LOGOUT_N=$LOGOUT_N LOGOUT_COUNT=$LOGOUT_COUNT"
cargo bench --locked --bench logout_kicks
