#!/usr/bin/env bash
# The README's test command: make a venv (once), install glomo_tf with its test extras, run pytest.
set -eu
cd "$(dirname "$0")/.."
VENV="${GLOMO_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt -e ".[test]"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider --durations=15 "$@"
