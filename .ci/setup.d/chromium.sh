#!/usr/bin/env bash
# The `ui` browser test drives Debian's Chromium through playwright (its own browser download
# is not reachable from CI).
set -euo pipefail
if ! [ -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
