#!/usr/bin/env bash
# Builds target/debian/mqtt-jwt-auth_<version>_<arch>.deb with dpkg-deb: the plugin in /usr/lib (so that
# "plugin /usr/lib/libmqtt_jwt_auth.so" works as written), the mqtt-jwt tool, an example jwt.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

cargo build --release --locked --lib --bin mqtt-jwt
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
root=target/debian/root
rm -rf "$root" && mkdir -p "$root/DEBIAN" "$root/usr/lib" "$root/usr/bin" "$root/etc/mosquitto" "$root/usr/share/doc/mqtt-jwt-auth"
install -m 0644 target/release/libmqtt_jwt_auth.so "$root/usr/lib/libmqtt_jwt_auth.so"
install -m 0755 target/release/mqtt-jwt "$root/usr/bin/mqtt-jwt"
strip --strip-debug "$root/usr/lib/libmqtt_jwt_auth.so" "$root/usr/bin/mqtt-jwt"
install -m 0644 packaging/debian/jwt.json "$root/etc/mosquitto/jwt.json"
install -m 0644 README.md "$root/usr/share/doc/mqtt-jwt-auth/README.md"
# README.md links to docs/: keep the same layout so its links work in the installed copy.
install -d "$root/usr/share/doc/mqtt-jwt-auth/docs"
install -m 0644 docs/*.md "$root/usr/share/doc/mqtt-jwt-auth/docs/"
install -m 0644 CHANGELOG.md "$root/usr/share/doc/mqtt-jwt-auth/CHANGELOG.md"
# Debian's machine-readable copyright file, its licence texts taken from LICENSE-* (one source).
deb_text() { sed -e 's/^$/./' -e 's/^/ /' "$1"; }
{
  printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n'
  printf 'Upstream-Name: mqtt-jwt-auth\n\nFiles: *\nCopyright: 2026 mqtt-jwt-auth developers\n'
  printf 'License: EPL-2.0 or BSD-3-Clause\n\nLicense: EPL-2.0\n'
  deb_text LICENSE-EPL-2.0
  printf '\nLicense: BSD-3-Clause\n'
  deb_text LICENSE-BSD-3-Clause
} > "$root/usr/share/doc/mqtt-jwt-auth/copyright"
cp -r mosquitto-conf "$root/usr/share/doc/mqtt-jwt-auth/examples"
chmod -R u=rwX,go=rX "$root/usr/share/doc/mqtt-jwt-auth/examples"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" packaging/debian/control.in > "$root/DEBIAN/control"
echo "/etc/mosquitto/jwt.json" > "$root/DEBIAN/conffiles"
out="target/debian/mqtt-jwt-auth_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "$out"
