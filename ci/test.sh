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
# Unit tests, and the integration tests against the system's mosquitto (Debian 12: 2.0.11).
cargo test --locked --lib --bins --tests
# The broker matrix (docs/operations.md, "Supported mosquitto versions"; docs/development.md, "Tests"): ci/brokers.sh provides 2.0.21 and 2.1.2
# in a cache folder without touching the system's mosquitto. All integration tests run on 2.1.2 but
# the WebSockets ones (browser, clients: they test the client side, and the 2.1.2 build has no
# WebSockets so that its ticks are tested as such a broker runs them); a smoke subset runs on 2.0.21.
# MQTT_JWT_SKIP_MATRIX=1 skips both.
if [ "${MQTT_JWT_SKIP_MATRIX:-0}" != 1 ]; then
  brokers="$(bash ci/brokers.sh)"
  while read -r version binary dynsec; do
    case "$version" in
      2.1.2)
        tests=()
        for f in tests/*.rs; do
          name="$(basename "$f" .rs)"
          case "$name" in browser | clients) ;; *) tests+=(--test "$name") ;; esac
        done
        ;;
      *) tests=(--test versions --test broker_auth --test sessions --test authorization --test examples) ;;
    esac
    echo "ci/test.sh: integration tests against mosquitto $version ($binary)"
    MQTT_JWT_MOSQUITTO="$binary" MQTT_JWT_DYNSEC="$dynsec" cargo test --locked "${tests[@]}" </dev/null
  done <<<"$brokers"
fi
# Hardening (docs/development.md, "Hardening and fuzzing"): each fuzz target for a short bounded time (a crash fails), then
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
