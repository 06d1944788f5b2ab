#!/usr/bin/env bash
# The review scanners (checkov, cfn-lint, bandit) in their own virtualenv, apart from the
# project's: they pin many packages of their own. Idempotent: does nothing when the venv
# already holds exactly requirements-scanners.lock.
#
#   scripts/scanners.sh            create or refresh .venv-scanners from the lock
#   scripts/scanners.sh --relock   resolve the three tools afresh and rewrite the lock
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${SCANNER_VENV:-.venv-scanners}
LOCK=requirements-scanners.lock
TOOLS="checkov==3.3.30 cfn-lint==1.58.0 bandit==1.9.4"
# The machine-wide pip constraints are the project's; the scanners resolve on their own.
export PIP_CONSTRAINT=
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [[ "${1:-}" == "--relock" ]]; then
  rm -rf "$VENV.relock"
  "$PYTHON" -m venv "$VENV.relock"
  "$VENV.relock/bin/pip" install --quiet pip==26.3
  "$VENV.relock/bin/pip" install --quiet $TOOLS
  { echo "# Exact versions of the review scanners' own virtualenv (scripts/scanners.sh)."; \
    echo "# Regenerate deliberately with \`scripts/scanners.sh --relock\`; commit the result."; \
    "$VENV.relock/bin/pip" freeze | LC_ALL=C sort -f; } > "$LOCK"
  rm -rf "$VENV.relock"
fi

stamp="$VENV/.installed"
want=$(sha256sum "$LOCK" | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet pip==26.3
"$VENV/bin/pip" install --quiet --no-deps -r "$LOCK"
"$VENV/bin/pip" check
for tool in checkov cfn-lint bandit; do "$VENV/bin/$tool" --version >/dev/null; done
echo "$want" > "$stamp"
