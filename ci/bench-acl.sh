#!/usr/bin/env bash
# QoS 1 publish throughput with a 100-rule session vs a 1-rule session in one broker (see benches/acl_throughput.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo bench --locked --bench acl_throughput
