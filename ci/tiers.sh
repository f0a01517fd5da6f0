# The CI tiers, one function each; run.sh runs them (./run.sh test runs them all, in order).
# Sourced after ci/lib.sh, from the repository root. docs/development.md describes each tier.

# --- in the development venv (./.venv, the provider installed editable) ------------------------

tier_lint() {
    log "ruff (lint and format) and mypy"
    "$DEV_VENV/bin/ruff" check .
    "$DEV_VENV/bin/ruff" format --check .
    "$DEV_VENV/bin/mypy"
}

# tier_suite [PYTEST ARGS]: the whole suite, the SQLite + LocalExecutor e2e included.
tier_suite() {
    log "pytest ${*:-(whole suite)}"
    "$DEV_VENV/bin/python" -m pytest "$@"
}

# The API reference (autodoc over the package) and the guides of docs/, warnings as errors.
tier_docs() {
    log "docs: sphinx-build -W"
    rm -rf docs/_build docs/_api
    "$DEV_VENV/bin/sphinx-build" -W --keep-going -q -b html docs docs/_build/html
    echo "docs built: docs/_build/html/index.html" >&2
}

# --- the distributions ------------------------------------------------------------------------

build_dist() {
    log "build the sdist and the wheel (the wheel from the sdist)"
    local log
    rm -rf "$DIST"
    log=$(mktemp)
    "$DEV_VENV/bin/python" -m build --sdist --wheel --outdir "$DIST" . >"$log" 2>&1 || { cat "$log" >&2; return 1; }
    rm -f "$log"
    ls -1 "$DIST" >&2
}

tier_package() {
    build_dist
    log "twine check, check-wheel-contents, our content and metadata checks"
    "$DEV_VENV/bin/twine" check --strict "$DIST"/*
    "$DEV_VENV/bin/check-wheel-contents" "$DIST"/*.whl
    "$DEV_VENV/bin/python" ci/check_dist.py "$DIST"
}

# --- the provider installed from the wheel in fresh virtualenvs --------------------------------

# prepare_env NAME: $CI_VENVS/NAME, a fresh venv with that environment's Airflow and the built
# wheel (pinned by its constraints file), and $CI_VENVS/NAME-src, the sdist unpacked without the
# package source, where the tests run: nothing there can shadow the installed wheel.
prepare_env() {
    local entry name airflow python extras provider_extras venv src wheel sdist
    entry=$(matrix_entry "$1")
    name=$(env_field "$entry" 1)
    airflow=$(env_field "$entry" 2)
    python=$(find_python "$(env_field "$entry" 3)")
    extras=$(env_field "$entry" 4)
    [ "$extras" = - ] && extras=""
    provider_extras=$(env_field "$entry" 5)
    venv="$CI_VENVS/$name"
    src="$CI_VENVS/$name-src"
    wheel=$(ls "$DIST"/*.whl 2>/dev/null | head -1)
    sdist=$(ls "$DIST"/*.tar.gz 2>/dev/null | head -1)
    [ -n "$wheel" ] && [ -n "$sdist" ] || die "no distributions in $DIST/: ./run.sh test-package builds them"
    log "$name: fresh venv, apache-airflow${extras:+[$extras]}==$airflow and $(basename "$wheel")[$provider_extras]"
    mkdir -p "$CI_VENVS"
    new_venv "$venv" "$python"
    venv_pip "$venv" install --quiet --constraint "$(constraints_for "$name")" \
        "apache-airflow${extras:+[$extras]}==$airflow" "$(realpath "$wheel")[$provider_extras]"
    venv_pip "$venv" check
    rm -rf "$src"
    mkdir -p "$src"
    tar -xzf "$sdist" -C "$src" --strip-components=1
    rm -rf "$src/airflow_provider_sms"
}

# run_in_env NAME COMMAND...: run a command of the env's venv from its unpacked sdist, with a
# private AIRFLOW_HOME.
run_in_env() {
    local name=$1 venv src home status=0
    shift
    venv=$(realpath "$CI_VENVS/$name")
    src="$CI_VENVS/$name-src"
    home=$(mktemp -d)
    (cd "$src" && env -u AIRFLOW_HOME AIRFLOW_HOME="$home" PATH="$venv/bin:$PATH" "$@") || status=$?
    rm -rf "$home"
    return $status
}

# prepare_envs NAME...: prepare_env for each (./run.sh test does it while lint and docs run).
prepare_envs() {
    local name
    for name in "$@"; do prepare_env "$name"; done
}

# tier_matrix NAME [prepared]: the suite without the e2e tier, and the example DAGs' import check,
# against the wheel installed with that environment's Airflow and Python ("prepared": the venv
# was made earlier in this run).
tier_matrix() {
    local name=$1 status=0
    [ "${2:-}" = prepared ] || prepare_env "$name"
    local -a selection=()
    [[ " $MATRIX_LIGHT_ENVS " == *" $name "* ]] && read -r -a selection <<<"$MATRIX_LIGHT_TESTS"
    log "$name: pytest -m 'not e2e and not once' ${selection[*]} against the installed wheel"
    run_in_env "$name" python -m pytest -m "not e2e and not once" -p no:cacheprovider "${selection[@]}" || status=1
    log "$name: airflow dags list-import-errors --local over example_dags/"
    run_in_env "$name" ci/check-example-dags.sh || status=1
    return $status
}

# The demo, as a user runs it after pip install: from an empty folder, with the wheel.
tier_demo_from_wheel() {
    local name=$1 folder
    [ -x "$CI_VENVS/$name/bin/python" ] || prepare_env "$name"
    folder=$(mktemp -d)
    log "$name: python -m airflow_provider_sms.demo in an empty folder"
    (cd "$folder" && env -u AIRFLOW_HOME "$(realpath "$CI_VENVS/$name")/bin/python" -m airflow_provider_sms.demo)
    [ -s "$folder/demo-output/numbers.clean.csv" ] || die "the demo wrote no clean list"
    rm -rf "$folder"
}

# The e2e suite on PostgreSQL with the CeleryExecutor and a Redis broker, every component a
# process of its own, against the wheel in the newest environment.
tier_postgres_celery() {
    [ -x "$CI_VENVS/$POSTGRES_CELERY_ENV/bin/python" ] || prepare_env "$POSTGRES_CELERY_ENV"
    log "$POSTGRES_CELERY_ENV: e2e on PostgreSQL + CeleryExecutor + Redis"
    ci/with-postgres-redis.sh "$(realpath "$CI_VENVS/$POSTGRES_CELERY_ENV-src")" \
        "$(realpath "$CI_VENVS/$POSTGRES_CELERY_ENV")/bin/python" -m pytest tests/airflow_e2e -p no:cacheprovider
}
