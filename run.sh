#!/usr/bin/env bash
# One entry point for a fresh machine:
#   ./run.sh demo   set everything up, then run the number-hygiene demo against the local sandbox
#   ./run.sh test   set everything up, then run the linters, the type checker and the whole test suite
# Everything goes into ./.venv (created on first use); the only system-wide install is Debian's
# chromium for the browser test (scripts/install_chromium.sh), when no Chromium is found.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[test,bench]"
}

setup_browser() {
    # The browser test of the "SMS & Voice" page drives Debian's chromium (installed if missing).
    scripts/install_chromium.sh
}

case "${1:-}" in
    demo)
        setup
        exec "$VENV/bin/python" -m airflow_provider_sms.demo "${@:2}"
        ;;
    test)
        setup
        setup_browser
        "$VENV/bin/ruff" check .
        "$VENV/bin/mypy"
        exec "$VENV/bin/python" -m pytest "${@:2}"
        ;;
    *)
        echo "usage: ./run.sh demo | ./run.sh test [pytest args]" >&2
        exit 2
        ;;
esac
