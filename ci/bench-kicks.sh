#!/usr/bin/env bash
# Expiry kicks at scale: KICK_N clients (default 10000) connected to one mosquitto with this plugin,
# half of the tokens expiring at T1 and half at T1 + 2 s; reports the kick delay after exp (p50, p90,
# p99, max; target p99 <= 1 s), early and missing kicks, and the broker's CPU during the kicks.
# Release build. The other KICK_* knobs are in benches/expiry_kicks.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

export KICK_N="${KICK_N:-10000}"
. ci/raise-nofile.sh  # one socket per client here and in mosquitto
echo "ci/bench-kicks.sh: ulimit -n $(ulimit -Sn) (hard $(ulimit -Hn)), KICK_N=$KICK_N"

# cargo bench builds the plugin (cdylib) in target/release/deps/; the benchmark loads the newest of
# that one and target/release/'s (MQTT_JWT_PLUGIN overrides).
cargo bench --locked --bench expiry_kicks
