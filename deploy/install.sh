#!/bin/sh
# Installs Brook's single binary as a systemd service on a 64-bit Linux device (Raspberry
# Pi OS bookworm arm64, or any glibc >= 2.34 arm64/x64 Linux). Run as root beside the binary:
#   sudo sh install.sh brook-linux-arm64
# It installs /usr/local/bin/brook, creates the user `brook`, writes /etc/brook/config.yaml
# and /etc/brook/rules.yaml unless they exist, installs brook.service, runs `brook selftest`
# and starts the service. Run it again to upgrade the binary: the config is left alone.
set -eu

binary="${1:-}"
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "$binary" ]; then
  case "$(uname -m)" in
    aarch64) binary="$here/brook-linux-arm64" ;;
    x86_64) binary="$here/brook-linux-x64" ;;
    *) echo "install.sh: $(uname -m) is not supported (64-bit arm64 or x64 only; not 32-bit armv7)" >&2; exit 1 ;;
  esac
fi
[ -f "$binary" ] || { echo "install.sh: no binary at $binary" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }

install -m 0755 "$binary" /usr/local/bin/brook
id brook >/dev/null 2>&1 || useradd --system --user-group --home-dir /var/lib/brook --shell /usr/sbin/nologin brook
install -d -m 0755 /etc/brook

if [ ! -f /etc/brook/config.yaml ]; then
  cat > /etc/brook/config.yaml <<CONFIG
# Brook's config: see the README's "Configuration". Edit, then: systemctl restart brook
device: $(hostname)
# The embedded broker takes anonymous clients: it listens on this device only. For sensors
# on the network, give each a password (sudo brook passwd add /etc/brook/passwd SENSOR, then
# sudo chgrp brook /etc/brook/passwd; sudo chmod 640 /etc/brook/passwd) and listen on the
# network: edge: { embedded: { host: 0.0.0.0, port: 1883, auth: { passwords: /etc/brook/passwd } } }
# (docs/SECURITY.md: TLS, client certificates, ACLs, limits).
edge: { embedded: { host: 127.0.0.1, port: 1883 } }
rules: /etc/brook/rules.yaml
dataDir: /var/lib/brook
# uplink: { url: mqtts://cloud.example.com:8883, username: pi, password: secret }
http: { host: 127.0.0.1, port: 9100 }
CONFIG
  # It may come to hold the uplink's password: readable by root and the service only.
  chown root:brook /etc/brook/config.yaml
  chmod 0640 /etc/brook/config.yaml
fi
if [ ! -f /etc/brook/rules.yaml ]; then
  cat > /etc/brook/rules.yaml <<'RULES'
# Brook's rules: see docs/RULES.md. Check with: brook rules check /etc/brook/rules.yaml
# Reload without a restart: systemctl reload brook
rules:
  - name: per-minute
    window: { type: tumbling, size: 1m }
    aggregates: [count, mean, min, max]
RULES
fi

install -m 0644 "$here/brook.service" /etc/systemd/system/brook.service
# The self-test unpacks the SQLite addon into the service's cache directory, as the service will.
install -d -o brook -g brook -m 0700 /var/cache/brook /var/lib/brook
su -s /bin/sh brook -c "BROOK_CACHE_DIR=/var/cache/brook /usr/local/bin/brook selftest"
systemctl daemon-reload
systemctl enable brook
# restart, not start: run again to upgrade, the new binary must take over.
systemctl restart brook
systemctl --no-pager status brook | head -5
