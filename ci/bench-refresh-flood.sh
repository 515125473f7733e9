#!/usr/bin/env bash
# Refresh flood: 200,000 in-band refreshes from one client (REFRESH_FLOOD_N), with the default
# options.refresh.minIntervalMs and with 0; the broker's RSS must stay within REFRESH_FLOOD_MAX_KIB
# (default 1024) of its level after a warm-up (benches/refresh_flood.rs). Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
# cargo bench builds the plugin (cdylib) in target/release/deps/, where the harness finds it.
cargo bench --locked --bench refresh_flood
