#!/usr/bin/env bash
# The Debian packages the tests run for real: Prometheus (promtool lints our /metrics; a
# server scrapes a live cluster). Installs only what is missing; needs root (CI runs as root).
set -euo pipefail
PACKAGES=(prometheus chromium)  # chromium: the dashboard's browser test
PACKAGES+=(mosquitto)  # the MQTT bridge tests start a real broker
missing=()
for package in "${PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "the tests need these Debian packages: ${missing[*]} (run this script as root)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
