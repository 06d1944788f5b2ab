#!/usr/bin/env bash
# System programs the test suite drives for real: Chromium (browser tests), Redis, PostgreSQL,
# Prometheus with promtool. Idempotent: when all are present it returns at once. As root it
# installs the missing ones from Debian's packages (one `apt-get update`); otherwise it fails
# at once with the one command that does it.
set -euo pipefail

# program -> Debian package
declare -A NEEDS=(
  [/usr/bin/chromium]=chromium
  [/usr/bin/redis-server]=redis-server
  [/usr/lib/postgresql/15/bin/postgres]=postgresql
  [/usr/bin/prometheus]=prometheus
  [/usr/bin/promtool]=prometheus
)
missing=()
for program in "${!NEEDS[@]}"; do
  [ -x "$program" ] || missing+=("${NEEDS[$program]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')

if [ "$(id -u)" -ne 0 ]; then
  echo "make test needs system packages: ${packages}- run once: sudo make test-deps" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "make test needs: ${packages}- install them with your system's package manager" >&2
  exit 1
fi
echo "test-deps: installing ${packages}(Debian packages)"
apt-get update -qq
# The packaged services must not start on their own: the tests start their own instances.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
