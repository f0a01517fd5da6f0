"""The example DAGs parse cleanly as Airflow's own CLI sees them (issue: no import error)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.airflow_env import REPO_ROOT


def _import_errors(dags_folder: Path) -> list[dict[str, str]]:
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder)}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "list-import-errors", "--local", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Airflow logs warnings to stdout before the table: the JSON is the last line.
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_example_dags_have_no_import_errors_per_the_cli(airflow_db: Path) -> None:
    assert _import_errors(REPO_ROOT / "example_dags") == []


def test_the_cli_check_does_see_an_import_error(airflow_db: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("from airflow.sdk import dag\nimport no_such_module_here\n")
    (error,) = _import_errors(tmp_path)
    assert "no_such_module_here" in error["error"]
