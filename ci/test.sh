#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and integration tests against a real mosquitto.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# Builds the plugin (cdylib) that the integration tests load into mosquitto.
cargo build --locked --lib
# Benches are compiled by clippy above and run by their own scripts (ci/bench-*.sh), not here.
cargo test --locked --lib --bins --tests
# Hardening (README, "Hardening"): each fuzz target for a short bounded time (a crash fails), then
# the integration tests with every mosquitto under valgrind (~2-3 min). MQTT_JWT_SKIP_HARDENING=1
# skips both (e.g. for a quick local run).
if [ "${MQTT_JWT_SKIP_HARDENING:-0}" != 1 ]; then
  FUZZ_SECONDS="${FUZZ_SECONDS:-10}" bash ci/fuzz.sh
  bash ci/memcheck.sh
fi
# The Debian package, installed for real (needs root or sudo).
if [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then
  bash ci/test-deb.sh
else
  echo "ci/test.sh: skipping ci/test-deb.sh (needs root or passwordless sudo)"
fi
