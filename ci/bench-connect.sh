#!/usr/bin/env bash
# Connect storm: the broker's CPU time per CONNECT with this plugin (HS256, RS256, ES256, cached
# reconnects) against anonymous and password_file mosquitto brokers, release build.
# STORM_N connects per storm (default 3000); the other STORM_* knobs are in benches/connect_storm.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

export STORM_N="${STORM_N:-3000}"
# cargo bench builds the plugin (cdylib) in target/release/deps/ only; the benchmark loads it from
# there (MQTT_JWT_PLUGIN overrides). No separate `cargo build --release --lib`: it is another build of
# the same deps/libmqtt_jwt_auth.so, so the two would rebuild each other on every run.
cargo bench --locked --bench connect_storm
