#!/usr/bin/env bash
# `airflow dags list-import-errors --local` over example_dags/, as a user checks them after
# installing: fails on any import error, and unless every example DAG file gave its DAGs.
# Runs from a folder holding example_dags/, with the environment's `airflow` first on PATH and a
# throwaway AIRFLOW_HOME (run_in_env in ci/tiers.sh provides both).
set -euo pipefail
export AIRFLOW__CORE__DAGS_FOLDER="$PWD/example_dags" AIRFLOW__CORE__LOAD_EXAMPLES=False
airflow db migrate >/dev/null  # the CLI wants a metadata database even with --local
# Airflow logs to stdout before the JSON: the JSON is the last line.
errors=$(airflow dags list-import-errors --local -o json | tail -1)
dags=$(airflow dags list --local -o json | tail -1)
python - "$errors" "$dags" "$AIRFLOW__CORE__DAGS_FOLDER" <<'PY'
import json, pathlib, sys

errors, dags, folder = json.loads(sys.argv[1]), json.loads(sys.argv[2]), pathlib.Path(sys.argv[3])
if errors:
    sys.exit("import errors in example_dags/:\n" + "\n".join(f"{e['filename']}: {e['error']}" for e in errors))
files = {pathlib.Path(d["fileloc"]).name for d in dags}
missing = sorted(p.name for p in folder.glob("*.py") if p.name not in files)
if missing:
    sys.exit(f"no DAG parsed from {missing}")
print(f"example_dags/: {len(dags)} DAGs from {len(files)} files, no import errors")
PY
