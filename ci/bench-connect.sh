#!/usr/bin/env bash
# Connect storm: the broker's CPU time per CONNECT with this plugin (HS256, RS256, ES256, cached
# reconnects) against anonymous and password_file mosquitto brokers. Release build.
# STORM_N connects per storm (default 3000); see benches/connect_storm.rs for the other STORM_* knobs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

export STORM_N="${STORM_N:-3000}"
cargo bench --locked --bench connect_storm
