#!/usr/bin/env bash
# Connect storm with memory measurement: STORM_MEM_N clients (default 10000) with distinct tokens
# connect, stay and leave, then all reconnect at once and leave; every client answered, the broker
# responsive (probe pings), the plugin's live-session count back to zero, the broker's RSS before /
# peak / after each round, against mosquitto without the plugin first (STORM_MEM_BASELINE=0 skips
# that). Release build; the other STORM_MEM_* knobs are in benches/storm_memory.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

export STORM_MEM_N="${STORM_MEM_N:-10000}"
. ci/raise-nofile.sh  # one socket per client here and in mosquitto
echo "ci/bench-storm.sh: ulimit -n $(ulimit -Sn) (hard $(ulimit -Hn)), STORM_MEM_N=$STORM_MEM_N"
# cargo bench builds the plugin (cdylib) in target/release/deps/, where the harness finds it.
cargo bench --locked --bench storm_memory
