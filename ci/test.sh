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
# The Debian package, installed for real (needs root or sudo).
if [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then
  bash ci/test-deb.sh
else
  echo "ci/test.sh: skipping ci/test-deb.sh (needs root or passwordless sudo)"
fi
