"""Airflow names that moved between the supported versions are imported from one place only.

Task SDK 1.1 (Airflow 3.1) has no ``airflow.sdk.exceptions.AirflowFailException`` (nor
``AirflowNotFoundException``, ``AirflowTaskTerminated``, ``airflow.sdk.conf``); Airflow 3.2+
deprecates the same names in ``airflow.exceptions``. ``airflow_provider_sms.compat`` resolves
them for the installed version; a direct import anywhere else breaks one version or the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import airflow_provider_sms
from airflow_provider_sms import compat
from tests.airflow_env import REPO_ROOT

PACKAGE = Path(airflow_provider_sms.__file__).resolve().parent
#: Modules whose names moved between Airflow 3.1 and 3.3.
MOVED_MODULES = {"airflow.exceptions", "airflow.sdk.exceptions", "airflow.sdk.configuration"}
#: (module, name) pairs that exist only in some supported versions.
MOVED_NAMES = {("airflow.sdk", "conf")}


def direct_imports(path: Path) -> list[str]:
    """``file:line import`` for every import of a moved name in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names if alias.name in MOVED_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = {(node.module, alias.name) for alias in node.names}
            modules = [node.module] if node.module in MOVED_MODULES or names & MOVED_NAMES else []
        else:
            continue
        found += [f"{path}:{node.lineno} {module}" for module in modules]
    return found


def python_files() -> list[Path]:
    folders = [REPO_ROOT / name for name in ("example_dags", "tests", "benchmarks")]
    roots = [PACKAGE, *(folder for folder in folders if folder.is_dir())]
    files = [p for root in roots for p in root.rglob("*.py")]
    return [p for p in files if p.resolve() != Path(compat.__file__).resolve()]


def test_moved_airflow_names_are_imported_only_through_the_compat_module() -> None:
    files = python_files()
    assert any(p.name == "incoming_call.py" and PACKAGE in p.parents for p in files), "package not scanned"

    offenders = [hit for path in files for hit in direct_imports(path)]

    assert offenders == [], "import these names from airflow_provider_sms.compat:\n" + "\n".join(offenders)


def test_the_scan_recognises_every_form_of_direct_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import airflow.exceptions\n"
        "from airflow.sdk.exceptions import AirflowFailException\n"
        "from airflow.sdk import BaseOperator, conf\n"
        "def f():\n"
        "    from airflow.exceptions import AirflowTaskTerminated\n"
        "from airflow.sdk import BaseOperator\n"  # did not move: allowed
        "from airflow_provider_sms.compat import conf\n"  # the one place: allowed
    )

    assert [hit.split(" ", 1)[1] for hit in direct_imports(sample)] == [
        "airflow.exceptions",
        "airflow.sdk.exceptions",
        "airflow.sdk",
        "airflow.exceptions",
    ]


def test_compat_names_are_the_ones_the_installed_task_runner_handles() -> None:
    """The names resolve for the installed Airflow; AirflowTaskTerminated escapes ``except Exception``."""
    for name in compat.__all__:
        assert getattr(compat, name) is not None, name
    assert issubclass(compat.AirflowFailException, compat.AirflowException)
    assert issubclass(compat.AirflowNotFoundException, compat.AirflowException)
    assert issubclass(compat.AirflowTaskTerminated, BaseException)
    assert not issubclass(compat.AirflowTaskTerminated, Exception)
    assert compat.conf.has_option("core", "dags_folder")
