#!/usr/bin/env bash
# A real pretalx server for tests/podium/pretalx/test_live_pretalx.py, in its own virtualenv:
# pretalx pins Django and much else, so it never touches the project's .venv. Idempotent: a
# second run finds everything in place and returns at once.
#
#   $PODIUM_PRETALX_HOME/venv        pretalx==2026.2.1 (+ Faker, freezegun for create_test_event)
#   $PODIUM_PRETALX_HOME/template    a migrated SQLite database with the demo event and a token
set -euo pipefail
cd "$(dirname "$0")/../.."
HOME_DIR=${PODIUM_PRETALX_HOME:-/opt/podium-pretalx}
VENV=$HOME_DIR/venv
TEMPLATE=$HOME_DIR/template

# pretalx 2026.2 needs Python 3.13: one on PATH that runs (a pyenv shim may not), else pyenv's.
PY=""
for candidate in python3.13 "${PYENV_ROOT:-/root/.pyenv}"/versions/3.13*/bin/python3.13; do
  if "$candidate" -c "import sys; assert sys.version_info[:2] == (3, 13)" >/dev/null 2>&1; then
    PY=$candidate
    break
  fi
done
if [ -z "$PY" ]; then
  echo "pretalx: no Python 3.13 found; the live pretalx test will be skipped" >&2
  exit 0
fi

if ! "$VENV/bin/python" -c "import pretalx, faker, freezegun" 2>/dev/null; then
  rm -rf "$VENV"
  mkdir -p "$HOME_DIR"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    'pretalx==2026.2.1' 'faker==40.54.0' 'freezegun==1.5.5'
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
echo "pretalx: $VENV, template $TEMPLATE"
