"""The example DAGs the package ships are the repository's example_dags/ files, not copies."""

from __future__ import annotations

from pathlib import Path

import airflow_provider_sms
from airflow_provider_sms import demo
from tests.airflow_env import REPO_ROOT

PACKAGED = Path(airflow_provider_sms.__file__).parent / "example_dags"


def packaged_dags() -> list[Path]:
    return sorted(p for p in PACKAGED.glob("*.py") if p.name != "__init__.py")


def test_the_demo_dag_ships_with_the_package() -> None:
    assert demo.DAG_FILE in packaged_dags()
    assert demo.DAG_FILE.read_text(encoding="utf-8") == (
        REPO_ROOT / "example_dags" / demo.DAG_FILE.name
    ).read_text(encoding="utf-8")


def test_each_packaged_dag_is_the_top_level_example() -> None:
    """In a git clone each one is a link to example_dags/; elsewhere (a wheel, an unpacked
    sdist) the build stored the linked file's content: byte-identical."""
    source_tree = PACKAGED.parent.resolve() == REPO_ROOT / "airflow_provider_sms"
    in_clone = source_tree and (REPO_ROOT / ".git").exists()
    for dag in packaged_dags():
        original = REPO_ROOT / "example_dags" / dag.name
        if in_clone:
            assert dag.is_symlink(), f"{dag} is a copy: make it a link to {original}"
            assert dag.resolve() == original.resolve()
        else:
            assert dag.read_bytes() == original.read_bytes(), (
                f"the installed {dag.name} differs from {original}"
            )
