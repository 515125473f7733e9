#!/usr/bin/env bash
# Provides the mosquitto versions the test matrix runs against, next to (never instead of) the
# system's Debian 12 mosquitto 2.0.11, each with the dynamic-security plugin of its own version:
#   2.0.21  Debian bookworm-backports binaries: apt-get download + dpkg -x (with libwebsockets17)
#   2.1.2   Debian sid's source package: apt-get source, built with cmake (websockets off, so the
#           broker loop sleeps as long as the plugin's TICK lets it: the case ticks must handle)
# Private apt lists (Dir::Etc::sourcelist, Dir::State::Lists, Dir::Cache under the cache folder)
# leave the system's apt configuration and package state unchanged. Idempotent and cached: a
# version is fetched or built once. Usage: ci/brokers.sh [VERSION...] (default: all). Prints one
# line per version on stdout: VERSION BROKER_BINARY DYNSEC_PLUGIN. Progress goes to stderr.
# Cache folder: $MQTT_JWT_BROKERS (default ~/.cache/mqtt-jwt-auth/brokers).
set -euo pipefail

CACHE="${MQTT_JWT_BROKERS:-$HOME/.cache/mqtt-jwt-auth/brokers}"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MIRROR="${MQTT_JWT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(2.0.21 2.1.2)

say() { echo "ci/brokers.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# System packages the 2.1.2 build needs (installed like ci/setup.sh does; mosquitto itself is not one).
need_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# apt with a private sources list named $1 (a file under $CACHE/apt/), its own lists and cache.
papt() {
  local list="$1"
  shift
  local dir="$CACHE/apt/$list"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  "$@" -o Dir::Etc::sourcelist="$dir/sources.list" -o Dir::Etc::sourceparts=- \
    -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" -o APT::Get::List-Cleanup=0 \
    -o APT::Sandbox::User="$(id -un)"
}

private_list() { # name, lines...
  local name="$1"
  shift
  mkdir -p "$CACHE/apt/$name"
  printf '%s\n' "$@" >"$CACHE/apt/$name/sources.list"
  say "apt-get update (private list $name)"
  papt "$name" apt-get update -qq >&2
}

# The newest version of a package in the private list that starts with the upstream version wanted.
pick_version() { # list, upstream, command(madison|showsrc)
  local list="$1" upstream="$2" how="$3" v
  if [ "$how" = madison ]; then
    v=$(papt "$list" apt-cache madison mosquitto | awk '{print $3}' | grep -F "$upstream-" | head -n1 || true)
  else
    v=$(papt "$list" apt-cache showsrc mosquitto | awk '/^Version:/ {print $2}' | grep -F "$upstream-" | sort -V | tail -n1 || true)
  fi
  [ -n "$v" ] || die "mosquitto $upstream is not in the Debian archive any more ($list); update ci/brokers.sh"
  echo "$v"
}

provide_2_0_21() {
  local out="$CACHE/2.0.21" tmp="$CACHE/2.0.21.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp/debs" "$tmp/root" "$tmp/sbin" "$tmp/lib"
  private_list bookworm-backports \
    "deb [signed-by=$KEYRING] $MIRROR bookworm main" \
    "deb [signed-by=$KEYRING] $MIRROR bookworm-backports main"
  local v
  v=$(pick_version bookworm-backports 2.0.21 madison)
  say "downloading mosquitto $v and libwebsockets17"
  (cd "$tmp/debs" && papt bookworm-backports apt-get download -qq "mosquitto=$v" libwebsockets17 >&2)
  for d in "$tmp"/debs/*.deb; do dpkg -x "$d" "$tmp/root"; done
  # libwebsockets17 lives in the folder, not the system: a wrapper points the loader at it. exec
  # keeps the broker's pid (tests signal it).
  cat >"$tmp/sbin/mosquitto" <<'EOF'
#!/bin/sh
root="$(dirname "$0")/../root"
LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$root/usr/sbin/mosquitto" "$@"
EOF
  chmod 755 "$tmp/sbin/mosquitto"
  ln -s ../root/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so "$tmp/lib/mosquitto_dynamic_security.so"
  echo "$v" >"$tmp/debian-version"
  finish "$tmp" "$out" 2.0.21
}

provide_2_1_2() {
  local out="$CACHE/2.1.2" tmp="$CACHE/2.1.2.tmp"
  need_packages cmake libcjson-dev libssl-dev build-essential dpkg-dev
  rm -rf "$tmp"
  mkdir -p "$tmp/src" "$tmp/build"
  private_list sid-src "deb-src [signed-by=$KEYRING] $MIRROR sid main"
  local v
  v=$(pick_version sid-src 2.1.2 showsrc)
  say "apt-get source mosquitto=$v (Debian sid)"
  (cd "$tmp/src" && papt sid-src apt-get source -qq "mosquitto=$v" >"$tmp/source.log" 2>&1) \
    || { cat "$tmp/source.log" >&2; die "apt-get source failed"; }
  local srcdir
  srcdir=$(find "$tmp/src" -mindepth 1 -maxdepth 1 -type d -name 'mosquitto-2.1.2*' | head -n1)
  [ -n "$srcdir" ] || die "apt-get source did not unpack mosquitto 2.1.2"
  say "building mosquitto 2.1.2 (broker and dynamic-security plugin only)"
  # Only the broker and the plugin the tests load; no websockets (see the header of this file).
  cmake -S "$srcdir" -B "$tmp/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DWITH_DOCS=OFF -DWITH_TESTS=OFF -DWITH_LTO=OFF -DWITH_BUNDLED_DEPS=ON -DWITH_WEBSOCKETS=OFF \
    -DWITH_HTTP_API=OFF -DWITH_CLIENTS=OFF -DWITH_APPS=OFF -DWITH_LIB_CPP=OFF -DWITH_SRV=OFF \
    -DWITH_PLUGIN_EXAMPLES=OFF -DWITH_PLUGIN_PERSIST_SQLITE=OFF -DWITH_PLUGIN_SPARKPLUG_AWARE=OFF \
    -DWITH_PLUGIN_ACL_FILE=OFF -DWITH_PLUGIN_PASSWORD_FILE=OFF >"$tmp/cmake.log" 2>&1 \
    || { cat "$tmp/cmake.log" >&2; die "cmake failed"; }
  make -C "$tmp/build" -j"${MQTT_JWT_BUILD_JOBS:-2}" >"$tmp/make.log" 2>&1 || { tail -n 40 "$tmp/make.log" >&2; die "make failed"; }
  mkdir -p "$tmp/sbin" "$tmp/lib"
  cp "$tmp/build/src/mosquitto" "$tmp/sbin/mosquitto"
  cp "$tmp/build/plugins/dynamic-security/mosquitto_dynamic_security.so" "$tmp/lib/"
  echo "$v" >"$tmp/debian-version"
  rm -rf "$tmp/src" "$tmp/build"
  finish "$tmp" "$out" 2.1.2
}

# Checks the result runs and reports the version wanted, then moves it into place in one step.
finish() { # tmp, out, version
  local got
  got=$("$1/sbin/mosquitto" -h 2>/dev/null | head -n1 || true)
  [ "$got" = "mosquitto version $3" ] || die "the $3 broker does not run: $got"
  [ -f "$1/lib/mosquitto_dynamic_security.so" ] || die "no dynamic-security plugin for $3"
  rm -rf "$2"
  mv "$1" "$2"
  say "mosquitto $3 ready in $2"
}

mkdir -p "$CACHE"
# Several checkouts may share the cache: one provisioning at a time.
exec 9>"$CACHE/.lock"
flock 9
for v in "${versions[@]}"; do
  case "$v" in
    2.0.21 | 2.1.2) ;;
    *) die "unknown version $v (known: 2.0.21 2.1.2)" ;;
  esac
  if [ ! -x "$CACHE/$v/sbin/mosquitto" ]; then
    "provide_${v//./_}"
  fi
  echo "$v $CACHE/$v/sbin/mosquitto $CACHE/$v/lib/mosquitto_dynamic_security.so"
done
