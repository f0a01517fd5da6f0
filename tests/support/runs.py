"""Helpers for the tests that run operators and DAGs: connection, journal, XCom and ledger look-ups."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.airflow_env import REPO_ROOT

OPS_DAGS = REPO_ROOT / "tests" / "dags"


def load_dag(path: Path, dag_id: str) -> Any:
    """Parse one DAG file inside the DAGs folder (``dag.test()`` runs only DAGs found there)."""
    from tests.compat import DagBag

    bag = DagBag(dag_folder=str(path), safe_mode=False)
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"{path} has no DAG {dag_id!r}: {sorted(bag.dag_ids)}"
    return dag


def run_dag(path: Path, dag_id: str, **test_kwargs: Any) -> Any:
    """``dag.test()`` of a freshly parsed DAG; the finished DagRun."""
    from tests.compat import dag_test

    return dag_test(load_dag(path, dag_id), **test_kwargs)


def use_sandbox(
    monkeypatch: pytest.MonkeyPatch, sandbox: Any, conn_id: str = "sms_api_default", **extra: Any
) -> dict[str, Any]:
    """Point ``conn_id`` at ``sandbox`` (CA verified), with extra connection settings.

    Set both as ``AIRFLOW_CONN_...`` (hooks used directly by a test) and as a row of the
    metadata DB, because ``dag.test()`` re-parses every file of the DAGs folder (the repo
    root), and re-importing ``tests/airflow_env.py`` pops the environment variable.
    """
    conn = json.loads(sandbox.airflow_conn_json())
    conn["extra"].update(extra)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    _store_connection(conn_id, conn)
    return conn


def _store_connection(conn_id: str, conn: dict[str, Any]) -> None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn_id).delete()
        session.add(
            Connection(
                conn_id=conn_id,
                conn_type=conn["conn_type"],
                host=conn["host"],
                login=conn["login"],
                password=conn["password"],
                extra=json.dumps(conn["extra"]),
            )
        )


def use_journal(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Path:
    """Make ``[sms_api] journal_path`` a private folder for this test."""
    monkeypatch.setenv("AIRFLOW__SMS_API__JOURNAL_PATH", str(folder))
    return folder


def states(dag_run: Any) -> dict[tuple[str, int], str]:
    """{(task_id, map_index): state} of a finished DagRun."""
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in dag_run.get_task_instances()}


def xcom(dag_run: Any, task_id: str, map_index: int = -1, key: str = "return_value") -> Any:
    for ti in dag_run.get_task_instances():
        if ti.task_id == task_id and ti.map_index == map_index:
            return ti.xcom_pull(task_ids=task_id, key=key, map_indexes=map_index)
    raise AssertionError(f"no task instance {task_id}[{map_index}] in {states(dag_run)}")


def try_number(dag_run: Any, task_id: str, map_index: int = -1) -> int:
    for ti in dag_run.get_task_instances():
        if ti.task_id == task_id and ti.map_index == map_index:
            return int(ti.try_number)
    raise AssertionError(f"no task instance {task_id}[{map_index}]")


def billable(sandbox: Any, product: str) -> Counter[str]:
    """How many billable requests of ``product`` each number got."""
    return Counter(e["number"] for e in sandbox.ledger() if e["product"] == product and e["billable"])


def requests_for(sandbox: Any, product: str) -> list[dict[str, Any]]:
    return [e for e in sandbox.ledger() if e["product"] == product]


def journal_entries(folder: Path) -> list[dict[str, Any]]:
    """The latest attempt of each journal key under ``folder`` (``<key>.<attempt>.json`` files)."""
    latest: dict[str, tuple[int, Path]] = {}
    for path in folder.rglob("*.json"):
        key, _, rest = path.name.partition(".")
        attempt = rest.removesuffix(".json")
        if len(key) == 64 and attempt.isdigit() and int(attempt) > latest.get(key, (0, path))[0]:
            latest[key] = (int(attempt), path)
    return [json.loads(path.read_text()) for _, path in sorted(latest.values())]
