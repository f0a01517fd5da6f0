#!/usr/bin/env bash
# One entry point for a fresh machine (docs/development.md says more):
#   ./run.sh demo                  set up ./.venv, then run the number-hygiene demo against the local sandbox
#   ./run.sh test                  everything CI runs (.ci/run): every tier below, then their timings
#   ./run.sh test PYTEST_ARGS...   the quick loop: ruff, mypy, then pytest with these arguments in ./.venv
#   ./run.sh test-fast             ruff, mypy and the suite without the e2e tier in ./.venv
#   ./run.sh test-docs             the Sphinx build (API reference and guides), warnings as errors
#   ./run.sh test-package          build the sdist and the wheel into dist/ and check them
#   ./run.sh test-matrix [ENV...]  the suite without e2e, against the wheel in fresh venvs (ci/lib.sh lists ENVs)
#   ./run.sh test-demo-wheel       the demo from the wheel installed in a fresh venv (newest Airflow)
#   ./run.sh test-postgres-celery  the e2e suite on PostgreSQL + CeleryExecutor + Redis, wheel in a fresh venv
# ./.venv is the development venv (the provider editable); the fresh venvs go to ./.ci-venvs/.
# Versions are pinned by ci/constraints/; nothing is installed system-wide except, for the last
# tier when missing, Debian's redis-server, and for the browser test Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")"
source ci/lib.sh
source ci/tiers.sh

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

setup_browser() {
    # The browser test of the "SMS & Voice" page drives Debian's chromium (installed if missing).
    scripts/install_chromium.sh
}

everything() {
    local failed=() names=() entry name prep_log prep_pid start
    for entry in "${MATRIX_ENVS[@]}"; do names+=("$(env_field "$entry" 1)"); done
    setup_dev_venv test,bench,docs,release
    setup_browser
    timed "package" tier_package || failed+=(package)
    # The matrix's fresh venvs install (mostly download and unpack) while lint and docs run.
    prep_log=$(mktemp)
    start=$SECONDS
    bash -euo pipefail -c 'source ci/lib.sh && source ci/tiers.sh && prepare_envs "$@"' prepare_envs \
        "${names[@]}" >"$prep_log" 2>&1 &
    prep_pid=$!
    timed "lint (ruff, mypy)" tier_lint || failed+=(lint)
    timed "docs" tier_docs || failed+=(docs)
    if wait "$prep_pid"; then
        TIMINGS+=("$(printf '%-38s %4d s  ok (beside lint and docs)' "matrix venvs" $((SECONDS - start)))")
    else
        cat "$prep_log" >&2
        failed+=("matrix venvs")
    fi
    rm -f "$prep_log"
    # The whole suite in two halves side by side (the e2e tier on SQLite + LocalExecutor in the
    # first, with the hygiene tests; the other sandbox tests in the second).
    start_job "suite: e2e, integration, unit, hygiene" tier_suite tests/airflow_e2e tests/integration \
        tests/unit tests/sandbox/test_hygiene_*.py --durations=15
    start_job "suite: sandbox but hygiene" tier_suite tests/sandbox --ignore-glob='tests/sandbox/test_hygiene_*' \
        --durations=25
    wait_jobs
    # The matrix environments and the PostgreSQL + Celery e2e side by side.
    for name in "${names[@]}"; do
        start_job "matrix $name" tier_matrix "$name" prepared
    done
    start_job "e2e PostgreSQL + Celery + Redis" tier_postgres_celery
    wait_jobs
    print_timings
    [ ${#failed[@]} = 0 ] || die "failed: ${failed[*]}"
}


case "${1:-}" in
    demo)
        setup_dev_venv
        exec "$DEV_VENV/bin/python" -m airflow_provider_sms.demo "${@:2}"
        ;;
    test)
        if [ $# = 1 ]; then
            everything
        else
            setup_dev_venv test,bench,docs,release
            setup_browser
            tier_lint
            tier_suite "${@:2}"
        fi
        ;;
    test-fast)
        setup_dev_venv test,bench,docs,release
        tier_lint
        tier_suite -m "not e2e" "${@:2}"
        ;;
    test-docs)
        setup_dev_venv test,bench,docs,release
        tier_docs
        ;;
    test-package)
        setup_dev_venv test,bench,docs,release
        tier_package
        ;;
    test-matrix)
        setup_dev_venv test,bench,docs,release
        build_dist
        names=("${@:2}")
        [ ${#names[@]} -gt 0 ] || for entry in "${MATRIX_ENVS[@]}"; do names+=("$(env_field "$entry" 1)"); done
        for name in "${names[@]}"; do timed "matrix $name" tier_matrix "$name"; done
        print_timings
        ;;
    test-demo-wheel)
        setup_dev_venv test,bench,docs,release
        build_dist
        prepare_env "$POSTGRES_CELERY_ENV"
        tier_demo_from_wheel "$POSTGRES_CELERY_ENV"
        ;;
    test-postgres-celery)
        setup_dev_venv test,bench,docs,release
        build_dist
        prepare_env "$POSTGRES_CELERY_ENV"
        tier_postgres_celery
        ;;
    *)
        usage
        ;;
esac
