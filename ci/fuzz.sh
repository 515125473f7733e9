#!/usr/bin/env bash
# Fuzzes the token decoder and verifier, the jwt.json loader, JWK set parsing, topic/filter matching
# and ACL claim parsing with cargo-fuzz (libFuzzer + AddressSanitizer), FUZZ_SECONDS per target
# (default 20). Exits non-zero when any target finds a crash (its input is in fuzz/artifacts/<target>/;
# make it a regression test, then delete it). FUZZ_TARGETS="a b" runs only those.
# Longer run, e.g. an hour per target: FUZZ_SECONDS=3600 ci/fuzz.sh
# The working corpus grows in target/fuzz-corpus/<target>/ (kept between runs); the committed seeds
# are fuzz/corpus/<target>/seed-*.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
# libFuzzer and -Zsanitizer need nightly flags; stable accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "ci/fuzz.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
seconds="${FUZZ_SECONDS:-20}"
targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
cargo fuzz build
failed=()
summary=()
for t in $targets; do
  work="$CARGO_TARGET_DIR/fuzz-corpus/$t"
  mkdir -p "$work" "fuzz/artifacts/$t"
  log="$CARGO_TARGET_DIR/fuzz-corpus/$t.log"
  echo "ci/fuzz.sh: $t for ${seconds}s"
  # -timeout: one input taking longer than this is a finding (a stall on the broker thread).
  if cargo fuzz run "$t" "$work" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=CRASH
    failed+=("$t")
    tail -40 "$log" >&2
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | tr -d 'cov: ')
  summary+=("$(printf '%-14s %-6s runs=%-10s cov=%-6s corpus=%s' "$t" "$status" "${runs:-?}" "${cov:-?}" "$(find "$work" -type f | wc -l)")")
done
printf 'ci/fuzz.sh: %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "ci/fuzz.sh: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
