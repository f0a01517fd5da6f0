"""Pytest plugin loaded before any test module (``-p tests.airflow_env``): a private Airflow.

Airflow reads its configuration when first imported, so the environment must be set before
anything imports ``airflow``: a conftest would be too late for modules imported by other
conftests. Every test session gets a fresh AIRFLOW_HOME with a SQLite database, no example
DAGs, and the repository root as the DAGs folder (``dag.test()`` only runs DAGs whose file
lies inside it: ``example_dags/`` and ``tests/dags/`` both do).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Set once per process: a re-import (a DAG parser walking the repository) must not move home.
if "SMS_PROVIDER_TESTS_AIRFLOW_HOME" not in os.environ:
    os.environ["SMS_PROVIDER_TESTS_AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-provider-sms-tests-")
    os.environ.pop("AIRFLOW_CONN_SMS_API_DEFAULT", None)
_home = Path(os.environ["SMS_PROVIDER_TESTS_AIRFLOW_HOME"])
os.environ["AIRFLOW_HOME"] = str(_home)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT)
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home / 'airflow.db'}"


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create the Airflow metadata database once per session (only for tests that need it)."""
    from airflow.utils import db

    db.initdb()
    return _home


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_home, ignore_errors=True)
