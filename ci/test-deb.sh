#!/usr/bin/env bash
# Installs the Debian package and checks that a broker configured with
# "plugin /usr/lib/libmqtt_jwt_auth.so" authenticates with it. Removes the package afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
deb=$(bash ci/package-deb.sh | tail -1)
$SUDO dpkg -i "$deb" >/dev/null
work=$(mktemp -d)
chmod 755 "$work"
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
  $SUDO dpkg -P mqtt-jwt-auth >/dev/null || true
}
trap cleanup EXIT
fail() { echo "test-deb: FAILED: $*" >&2; echo "--- broker log:" >&2; cat "$work/broker.log" >&2 || true; exit 1; }

# The shipped example refuses to start until its key set exists, naming the file and key.
if mqtt-jwt check /etc/mosquitto/jwt.json >"$work/check.out" 2>&1; then fail "example config loaded without keys"; fi
grep -q "options.modes.jwks.filePath: cannot read /etc/mosquitto/jwks.json" "$work/check.out" || fail "$(cat "$work/check.out")"

port=$(python3 -c 'import random,socket
for _ in range(200):
    p=random.randint(20000,32000); s=socket.socket()
    try: s.bind(("127.0.0.1",p)); s.close(); print(p); break
    except OSError: pass')
secret=deb-test-secret-0123456789abcdef
printf '{"version":1,"algorithm":"HS256","mode":"local","options":{"modes":{"local":"%s"},"common":{"matchUsernameToSubject":true}}}' "$secret" > "$work/jwt.json"
cat > "$work/mosquitto.conf" <<CONF
user root
listener $port 127.0.0.1
allow_anonymous false
log_dest stderr
log_type all
plugin /usr/lib/libmqtt_jwt_auth.so
plugin_opt_config_file $work/jwt.json
CONF
mosquitto -c "$work/mosquitto.conf" 2>"$work/broker.log" &
pid=$!
for _ in $(seq 1 100); do grep -q "running" "$work/broker.log" 2>/dev/null && break; sleep 0.05; done
token=$(mqtt-jwt mint --alg HS256 --secret "$secret" --sub deb-device)
mosquitto_pub -h 127.0.0.1 -p "$port" -u x -P "$token" -t t -m hello || fail "valid token refused"
grep -q "u'deb-device'" "$work/broker.log" || fail "username not set from the subject"
if mosquitto_pub -h 127.0.0.1 -p "$port" -u x -P "${token}x" -t t -m hello 2>/dev/null; then fail "bad token accepted"; fi
grep -q "refused client .*: bad-signature" "$work/broker.log" || fail "no refusal log line"
[ -f /usr/share/doc/mqtt-jwt-auth/examples/keycloak/jwt.json ] || fail "examples not installed"
echo "test-deb: 1 passed, 0 failed"
