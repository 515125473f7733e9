#!/usr/bin/env bash
# Installs what building and testing need on Debian 12, when it is missing. Idempotent.
set -euo pipefail

APT_PACKAGES=(build-essential mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev libclang-dev clang pkg-config openssl ca-certificates)
# The fleet test of back-channel logout puts three brokers behind one TCP load balancer.
APT_PACKAGES+=(haproxy)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ci/setup.sh: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The broker started by a package install must not hold port 1883 or compete with the tests.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  systemctl stop mosquitto 2>/dev/null || true
fi

# The OpenID provider the integration tests start (tests/idp): Node.js and its npm packages.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "ci/setup.sh: installing nodejs npm"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
idp_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/idp"
if [ ! -f "$idp_dir/node_modules/oidc-provider/package.json" ]; then
  echo "ci/setup.sh: installing the test OpenID provider's packages (npm ci in tests/idp)"
  (cd "$idp_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The OAuth2 authorization server the introspection tests start (tests/authserver): Python + Authlib.
as_req="$(cd "$(dirname "$0")/.." && pwd)/tests/authserver/requirements.txt"
if ! command -v python3 >/dev/null 2>&1; then
  echo "ci/setup.sh: installing python3 python3-pip"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3 python3-pip >/dev/null
fi
if ! python3 -c 'import authlib, flask, joserfc' >/dev/null 2>&1; then
  echo "ci/setup.sh: installing the test authorization server's packages (pip install -r tests/authserver/requirements.txt)"
  # Debian's python3 marks its site-packages externally managed (PEP 668): this is a test tool.
  python3 -m pip install -q --disable-pip-version-check -r "$as_req" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages -r "$as_req"
fi

# The client helpers' own test suites (tests/clients.rs runs them): MQTT.js in clients/js,
# paho-mqtt and pytest for clients/python.
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -f "$root/clients/js/node_modules/mqtt/package.json" ]; then
  echo "ci/setup.sh: installing the JS helper's packages (npm ci in clients/js)"
  (cd "$root/clients/js" && npm ci --no-audit --no-fund --loglevel=error)
fi
# The browser example's end-to-end test (tests/browser.rs): its packages (oidc-client-ts, MQTT.js,
# playwright-core, which downloads no browser) and Debian's chromium.
if [ ! -f "$root/examples/browser/node_modules/playwright-core/package.json" ]; then
  echo "ci/setup.sh: installing the browser example's packages (npm ci in examples/browser)"
  (cd "$root/examples/browser" && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "ci/setup.sh: installing chromium"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
py_req="$root/clients/python/requirements-test.txt"
if ! python3 -c 'import paho.mqtt, pytest, sys; sys.exit(0 if paho.mqtt.__version__.startswith("2.") else 1)' >/dev/null 2>&1; then
  echo "ci/setup.sh: installing the Python helper's test packages (pip install -r clients/python/requirements-test.txt)"
  python3 -m pip install -q --disable-pip-version-check -r "$py_req" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages -r "$py_req"
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { echo "ci/setup.sh: cargo not found: install Rust (https://rustup.rs) first" >&2; exit 1; }
