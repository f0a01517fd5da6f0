"""Run a DAG file for real with ``dag.test()`` (tasks, retries, mapping and triggers in-process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.airflow_env import REPO_ROOT


def load_dag(path: Path | str, dag_id: str) -> Any:
    """Parse ``path`` (a file under the repository, hence inside the DAGs folder) and return ``dag_id``."""
    from tests.compat import DagBag

    path = Path(path).resolve()
    if REPO_ROOT not in path.parents:
        raise ValueError(f"{path} is outside the DAGs folder {REPO_ROOT}: dag.test() would not run it")
    bag = DagBag(dag_folder=str(path), safe_mode=False)
    if bag.import_errors:
        raise AssertionError(f"import errors in {path}: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise AssertionError(f"{path} has no DAG {dag_id!r}; it has {sorted(bag.dag_ids)}")
    return dag


def run_dag(path: Path | str, dag_id: str, **test_kwargs: Any) -> Any:
    """``dag.test(**test_kwargs)`` on a freshly parsed DAG; returns the finished DagRun."""
    from tests.compat import dag_test

    return dag_test(load_dag(path, dag_id), **test_kwargs)
