#!/usr/bin/env bash
# Builds the plugin and runs mosquitto with it on the development configuration in mosquitto-conf/dev/
# (HS256, shared secret from that jwt.json). Port: $PORT (default 1883), loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

cargo build --release --locked --lib --bin mqtt-jwt
PORT="${PORT:-1883}"
JWT_JSON="${JWT_JSON:-$PWD/mosquitto-conf/dev/jwt.json}"
run_dir="$(mktemp -d)"
chmod 755 "$run_dir"
trap 'rm -rf "$run_dir"' EXIT
sed -e "s|@PORT@|$PORT|" -e "s|@PLUGIN@|$PWD/target/release/libmqtt_jwt_auth.so|" -e "s|@JWT_JSON@|$JWT_JSON|" \
  mosquitto-conf/dev/mosquitto.conf > "$run_dir/mosquitto.conf"
echo "mosquitto with mqtt-jwt-auth on 127.0.0.1:$PORT (jwt.json: $JWT_JSON); Ctrl-C stops it."
echo "Mint a token: target/release/mqtt-jwt mint --alg HS256 --secret-file mosquitto-conf/dev/secret --sub demo-device"
exec mosquitto -c "$run_dir/mosquitto.conf"
