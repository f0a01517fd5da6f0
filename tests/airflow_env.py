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


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Which provider and Airflow the session tests: CI runs it against wheels in fresh venvs."""
    from importlib.metadata import version

    import airflow_provider_sms  # no Airflow import: the package's __init__ is plain

    package = Path(airflow_provider_sms.__file__).parent
    where = "this checkout" if package.resolve().parent == REPO_ROOT else str(package)
    e2e = "PostgreSQL" if os.environ.get("SMS_E2E_POSTGRES_URL") else "SQLite"
    e2e += " + CeleryExecutor" if os.environ.get("SMS_E2E_CELERY_BROKER_URL") else " + LocalExecutor"
    return [
        f"airflow-provider-sms {airflow_provider_sms.__version__} from {where}; "
        f"apache-airflow {version('apache-airflow')}; e2e on {e2e}"
    ]


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_home, ignore_errors=True)
