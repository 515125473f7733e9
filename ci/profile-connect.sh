#!/usr/bin/env bash
# Instructions per cold HS256 CONNECT (issue 16), counted by callgrind: the plugin's BASIC_AUTH
# handler in-process (benches/scale.rs, 2,000 fresh clients and tokens, no cached reconnects), split
# into the HMAC, the SHA-256 key of the verified-token cache, and the rest (the non-crypto overhead),
# with the largest parts of that rest. Instruction counts repeat exactly for the same build, whatever
# else the machine does; under valgrind SHA-256 runs without the SHA extensions, so the two crypto
# figures are larger than on the CPU itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
command -v valgrind >/dev/null || { echo "ci/profile-connect.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
bin=$(cargo bench --locked --no-run --bench scale --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "scale" and m.get("executable"): print(m["executable"])' | tail -1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
SCALE_N=1 SCALE_M=2000 SCALE_PASSES=1 SCALE_KICKS=0 SCALE_RECONNECTS=0 SCALE_CONFIGS=plain \
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" '--toggle-collect=*Plugin*basic_auth*' "$bin" >/dev/null 2>"$out/log"
callgrind_annotate --inclusive=yes --tree=caller "$out/cg" > "$out/tree" 2>/dev/null
callgrind_annotate --inclusive=yes "$out/cg" > "$out/flat" 2>/dev/null
python3 - "$out" <<'PY'
import re, sys
d = sys.argv[1]
flat = open(d + "/flat").read().splitlines()
tree = open(d + "/tree").read()
def incl(pattern):
    best = 0
    for l in flat:
        m = re.match(r"\s*([\d,]+) \(", l)
        if m and re.search(pattern, l):
            best = max(best, int(m.group(1).replace(",", "")))
    return best
total = incl(r"PROGRAM TOTALS")
calls = max(int(n.replace(",", "")) for n in re.findall(r"< .*Plugin>::basic_auth \(([\d,]+)x\)", tree))
parts = [
    # hmac::verify is hmac::sign and a comparison; the callers around it get inlined.
    ("HMAC-SHA256 (signature check)", r":aws_lc_rs::hmac::sign( |$)"),
    ("SHA-256 (verified-token cache key)", r":aws_lc_rs::digest::sha::sha256_digest( |$)"),
]
crypto = 0
print(f"instructions per cold HS256 CONNECT (callgrind, {calls} BASIC_AUTH calls):")
print(f"  {'all':<44} {total // calls:>7}")
for name, pat in parts:
    n = incl(pat)
    crypto += n
    print(f"  {name:<44} {n // calls:>7}")
print(f"  {'non-crypto overhead (all - HMAC - SHA-256)':<44} {(total - crypto) // calls:>7}")
for name, pat in [
    ("  of which: JSON of header and claims", [r":mqtt_jwt_auth::verify::json::pick( |$)"]),
    ("  base64url decoding", [r":mqtt_jwt_auth::verify::b64url_into( |$)"]),
    ("  session open (indexes, schedule)", [r":mqtt_jwt_auth::session::Sessions::open( |$)"]),
    ("  verified-token cache insert", [r":mqtt_jwt_auth::cache::VerifiedCache::insert( |$)"]),
    ("  allocator (malloc + free)", [r"malloc\.c:malloc \[", r"malloc\.c:free \["]),
]:
    print(f"  {name:<44} {sum(incl(p) for p in pat) // calls:>7}")
PY
