#!/usr/bin/env bash
# A real pretalx server for the live pretalx tests, in its own virtualenv: pretalx pins Django
# and much else, so it never touches the project's .venv. Idempotent: a second run finds
# everything in place and returns at once.
#
#   $PODIUM_PRETALX_HOME/venv        pretalx (+ Faker, freezegun for create_test_event)
#   $PODIUM_PRETALX_HOME/template    a migrated SQLite database with the demo event and a token
#
# pretalx 2026.2.1 needs Python 3.13. Where none runs, nothing is installed and the live tests
# skip with that one reason: no Python 3.13 can be installed from the package registries, and
# pretalx 2025.2.2 (the last release for Python 3.11) was tried and differs: its submission
# listing does not reveal a retag, so the live test's retag check fails against it.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -eq 0 ]; then DEFAULT_HOME=/opt/podium-pretalx; else
  DEFAULT_HOME=${XDG_CACHE_HOME:-$HOME/.cache}/podium-pretalx; fi
HOME_DIR=${PODIUM_PRETALX_HOME:-$DEFAULT_HOME}
VENV=$HOME_DIR/venv
TEMPLATE=$HOME_DIR/template

PY=""
PRETALX=""
for candidate in python3.13 "${PYENV_ROOT:-/root/.pyenv}"/versions/3.13*/bin/python3.13; do
  if "$candidate" -c "import sys; assert sys.version_info[:2] == (3, 13)" >/dev/null 2>&1; then
    PY=$candidate
    PRETALX=pretalx==2026.2.1
    break
  fi
done
if [ -z "$PY" ]; then
  echo "pretalx: no Python 3.13 found (pyenv install 3.13 gives one); the live pretalx tests will be skipped" >&2
  exit 0
fi

want=${PRETALX#pretalx==}
if ! "$VENV/bin/python" -c "import pretalx, faker, freezegun, sys
from importlib.metadata import version; sys.exit(version('pretalx') != '$want')" 2>/dev/null; then
  rm -rf "$VENV"
  mkdir -p "$HOME_DIR"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "$PRETALX" 'faker==40.54.0' 'freezegun==1.5.5'
  rm -rf "$TEMPLATE"
fi

if [ ! -s "$TEMPLATE/init.json" ]; then
  rm -rf "$TEMPLATE.tmp"
  mkdir -p "$TEMPLATE.tmp"
  PRETALX_DATA_DIR="$TEMPLATE.tmp" PYTHONPATH=tests/pretalx_admin \
    "$VENV/bin/python" tests/pretalx_admin/admin.py init democon | tail -1 > "$TEMPLATE.tmp/init.json.part"
  mv "$TEMPLATE.tmp/init.json.part" "$TEMPLATE.tmp/init.json"
  rm -rf "$TEMPLATE"
  mv "$TEMPLATE.tmp" "$TEMPLATE"
fi
echo "pretalx: $PRETALX in $VENV, template $TEMPLATE"
