# Shared by run.sh and the scripts in ci/: where things live, which Python and Airflow each
# environment uses, how a virtualenv is made. Sourced from the repository root; defines functions only.

# Every environment CI installs: "name airflow-version python-version airflow-extras provider-extras".
# Its packages are pinned by ci/constraints/<name>.txt (made by ci/make-constraints.sh).
#   - the development venv ./.venv: ruff, mypy, docs, packaging and the whole suite;
#   - the matrix: the lowest and the newest supported Airflow, each on the lowest / highest
#     supported Python, plus the Airflow release in between on the Python in between, each with
#     the provider installed from the built wheel;
#   - the newest entry also carries the Celery and PostgreSQL extras: the PostgreSQL + Celery e2e
#     tier runs there.
DEV_ENV="airflow-3.3.2-py3.11 3.3.2 3.11 - test,bench,docs,release"
MATRIX_ENVS=(
    "airflow-3.1.0-py3.10 3.1.0 3.10 - test"
    "airflow-3.2.2-py3.12 3.2.2 3.12 - test"
    "airflow-3.3.2-py3.13 3.3.2 3.13 celery,postgres test"
)
POSTGRES_CELERY_ENV="airflow-3.3.2-py3.13"
# The release in between runs a lighter selection of the fast suite (CI's time budget): the unit
# and integration tests and every example DAG run; the lowest and the newest run all of it.
MATRIX_LIGHT_ENVS="airflow-3.2.2-py3.12"
MATRIX_LIGHT_TESTS="tests/unit tests/integration tests/sandbox/test_example_dags.py"
# Lower bounds of our own dependencies that the lowest environment proves (instead of the newest
# versions pip would pick): the oldest common-compat with every name airflow_provider_sms.compat uses.
LOWEST_ENV_PINS="apache-airflow-providers-common-compat==1.12.0"

CONSTRAINTS_DIR=ci/constraints
DEV_VENV=${VENV:-.venv}
CI_VENVS=${CI_VENVS:-.ci-venvs}
DIST=dist

log() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# env_field ENTRY N: the Nth field (1-based) of a "name airflow python extras provider-extras" entry.
env_field() { local -a f; read -r -a f <<<"$1"; printf '%s' "${f[$(($2 - 1))]}"; }

matrix_entry() {  # matrix_entry NAME: the entry of that name, or fail listing the names
    local entry
    for entry in "${MATRIX_ENVS[@]}"; do
        [ "$(env_field "$entry" 1)" = "$1" ] && { printf '%s' "$entry"; return; }
    done
    die "unknown environment '$1'; known: $(for e in "${MATRIX_ENVS[@]}"; do printf '%s ' "$(env_field "$e" 1)"; done)"
}

# find_python X.Y: a python X.Y interpreter: $PYTHON_X_Y, pythonX.Y on PATH, or the newest pyenv X.Y.
find_python() {
    local version=$1 var candidate
    var="PYTHON_${version//./_}"
    if [ -n "${!var:-}" ]; then printf '%s' "${!var}"; return; fi
    if command -v "python$version" >/dev/null 2>&1 && "python$version" -c '' >/dev/null 2>&1; then
        command -v "python$version"; return
    fi
    local root
    root=$(pyenv root 2>/dev/null || printf '%s' "$HOME/.pyenv")
    candidate=$(ls -d "$root"/versions/"$version".*/bin/python"$version" 2>/dev/null | sort -V | tail -1)
    [ -n "$candidate" ] || die "no Python $version found (set $var=/path/to/python$version)"
    printf '%s' "$candidate"
}

# venv_pip VENV ARGS...: VENV's pip; without the warning pip prints for each package that a local
# file:// index of the machine's pip configuration does not hold.
venv_pip() {
    local venv=$1
    shift
    "$venv/bin/python" -m pip "$@" 2> >(grep -v "^WARNING: Location 'file://.*' is ignored" >&2)
}

# new_venv DIR PYTHON: a fresh virtualenv (an existing one is removed) with a current pip.
new_venv() {
    rm -rf "$1"
    "$2" -m venv "$1"
    venv_pip "$1" install --quiet --upgrade pip
}

# constraints_for NAME: the constraints file of environment NAME; fails when it was never generated.
constraints_for() {
    local file="$CONSTRAINTS_DIR/$1.txt"
    [ -f "$file" ] || die "$file is missing: run ci/make-constraints.sh $1"
    printf '%s' "$file"
}

# The development venv: created on first use, then brought up to date (quick when nothing changed).
# EXTRAS: the provider's extras to install (the demo needs none). Its constraints are made for
# Python 3.11: without one (and without $PYTHON), python3 is tried with them.
setup_dev_venv() {
    local extras=${1:-} python
    if [ ! -x "$DEV_VENV/bin/python" ]; then
        python=${PYTHON:-$(find_python "$(env_field "$DEV_ENV" 3)" 2>/dev/null || command -v python3)}
        "$python" -m venv "$DEV_VENV"
        venv_pip "$DEV_VENV" install --quiet --upgrade pip
    fi
    venv_pip "$DEV_VENV" install --quiet \
        --constraint "$(constraints_for "$(env_field "$DEV_ENV" 1)")" -e ".${extras:+[$extras]}"
}

# timed NAME TIER_FUNCTION [ARGS...]: run a CI tier, remember how long it took and whether it
# passed (print_timings shows them). The tier runs in a bash of its own so that `set -e` holds
# inside it: bash ignores -e in a function called as `f || ...`.
TIMINGS=()
timed() {
    local name=$1 start status=0
    shift
    start=$SECONDS
    bash -euo pipefail -c 'source ci/lib.sh && source ci/tiers.sh && "$@"' "$1" "$@" || status=$?
    TIMINGS+=("$(printf '%-38s %4d s  %s' "$name" $((SECONDS - start)) "$([ $status = 0 ] && echo ok || echo FAILED)")")
    return $status
}
print_timings() {
    [ ${#TIMINGS[@]} -gt 0 ] || return 0
    log "CI tiers"
    printf '%s\n' "${TIMINGS[@]}" >&2
}

# Jobs run side by side (the suite's halves, the matrix): most of their time is spent waiting on
# sandboxes and Airflow processes, not on the CPU. Each job gets its own TMPDIR (so its temporary
# files and the limiter's pace files are its own) and log; wait_jobs prints the logs in order,
# adds each job's time to TIMINGS and its name to the caller's `failed` array when it failed.
JOBS=()
start_job() {  # start_job NAME FUNCTION [ARGS...]
    local name=$1 log tmp
    shift
    log=$(mktemp)
    tmp=$(mktemp -d)
    chmod 755 "$tmp"  # PostgreSQL's test server runs as the postgres user under it
    (
        start=$SECONDS
        status=0
        TMPDIR=$tmp bash -euo pipefail -c 'source ci/lib.sh && source ci/tiers.sh && "$@"' "$1" "$@" \
            >"$log" 2>&1 || status=$?
        printf '%d %d\n' $((SECONDS - start)) "$status" >"$log.status"
        rm -rf "$tmp"
    ) &
    JOBS+=("$!|$name|$log")
}
wait_jobs() {
    local entry pid name log secs status rest
    for entry in "${JOBS[@]}"; do
        pid=${entry%%|*}
        rest=${entry#*|}
        name=${rest%%|*}
        log=${rest#*|}
        wait "$pid" || true
        log "$name (ran beside the others)"
        cat "$log" >&2
        read -r secs status <"$log.status" || { secs=0; status=1; }
        TIMINGS+=("$(printf '%-38s %4d s  %s' "$name" "$secs" "$([ "$status" = 0 ] && echo ok || echo FAILED)")")
        [ "$status" = 0 ] || failed+=("$name")
        rm -f "$log" "$log.status"
    done
    JOBS=()
}
