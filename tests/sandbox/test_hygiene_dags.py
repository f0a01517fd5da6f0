"""NumberHygieneOperator and the example DAG in real DAG runs (dag.test()) against the sandbox."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.airflow_env import REPO_ROOT
from tests.support.runs import OPS_DAGS, run_dag, states, use_sandbox, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")
RATE = 1000
EXAMPLE = REPO_ROOT / "example_dags" / "number_list_hygiene.py"


def write_list(path: Path, numbers: list[str], column: str = "number") -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", column])
        writer.writerows([f"C{i}", n] for i, n in enumerate(numbers, start=1))
    return path


def asset_extras(name: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return list(
            session.scalars(
                sa.select(AssetEvent.extra)
                .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
                .where(AssetModel.name == name)
                .order_by(AssetEvent.id)
            ).all()
        )


def paid(sandbox) -> Counter[str]:
    return Counter(e["number"] for e in sandbox.ledger() if e["billable"])


def test_operator_returns_a_summary_and_updates_the_clean_list_asset(sandbox, monkeypatch, tmp_path) -> None:
    sandbox.set_rate_limit(RATE)
    use_sandbox(monkeypatch, sandbox, rate_limit=RATE)
    source = write_list(tmp_path / "in.csv", ["+447400123456", "+447400123466", "+44 7400 123456"], "phone")
    output = tmp_path / "out" / "checked.csv"

    conf = {"input_path": str(source), "output_path": str(output)}

    dr = run_dag(OPS_DAGS / "hyg_operator.py", "hyg_operator", run_conf=conf)

    assert states(dr) == {("hygiene", -1): "success"}
    summary = xcom(dr, "hygiene")
    assert summary["verdicts"]["VALID"] == 2
    assert summary["verdicts"]["FRAUDULENT"] == 1
    assert summary["api_calls"] == 4
    assert summary["calls_saved_by"]["duplicates"] == 2
    assert summary["clean_path"] == str(tmp_path / "out" / "checked.clean.csv")
    assert paid(sandbox) == {"+447400123456": 2, "+447400123466": 2}
    assert asset_extras("sms-api://tests/hygiene-clean-list")[-1] == {
        "clean_path": summary["clean_path"], "rows": 3, "valid": 2,
    }  # fmt: skip


def test_templated_budget(sandbox, monkeypatch, tmp_path) -> None:
    sandbox.set_rate_limit(RATE)
    use_sandbox(monkeypatch, sandbox, rate_limit=RATE)
    source = write_list(tmp_path / "in.csv", ["+447400123456", "+447400123457"], "phone")
    conf = {"input_path": str(source), "output_path": str(tmp_path / "o.csv"), "budget": 3}

    summary = xcom(run_dag(OPS_DAGS / "hyg_operator.py", "hyg_operator", run_conf=conf), "hygiene")

    assert summary["unchecked_rows"] == 1
    assert sum(paid(sandbox).values()) == 2


def test_example_dag_reports_branches_and_reuses_last_night(sandbox, monkeypatch, tmp_path) -> None:
    sandbox.set_rate_limit(RATE)
    use_sandbox(monkeypatch, sandbox, rate_limit=RATE)
    night1 = ["+447400123456", "+447400123457", "+447400123458", "+447400123466", "nonsense"]
    source = write_list(tmp_path / "list.csv", night1)
    conf = {"input_path": str(source), "output_folder": str(tmp_path / "out")}

    first = run_dag(EXAMPLE, "number_list_hygiene", run_conf=conf)

    assert states(first) == {
        ("hygiene", -1): "success", ("report", -1): "success", ("route", -1): "success",
        ("clean_list_ready", -1): "success", ("needs_review", -1): "skipped",
    }  # fmt: skip
    report = xcom(first, "report")
    assert report["bad_share"] == 0.4
    assert report["previous_bad_share"] is None
    assert json.loads((tmp_path / "out" / "last_summary.json").read_text())["bad_share"] == 0.4
    with (tmp_path / "out" / "numbers.clean.csv").open(encoding="utf-8") as handle:
        assert [r["e164"] for r in csv.DictReader(handle)] == night1[:3]
    clean_list_event = asset_extras("sms-api://example/clean-list")[-1]
    assert clean_list_event == {"clean_path": str(tmp_path / "out" / "numbers.clean.csv"), "valid": 3}
    assert sum(paid(sandbox).values()) == 8

    # Night 2: the list grew with bad numbers; the numbers of night 1 cost nothing.
    sandbox.reset()
    night2 = [*night1, "+447400123477", "+447400123498", "+442079460000"]
    write_list(tmp_path / "list.csv", night2)

    second = run_dag(EXAMPLE, "number_list_hygiene", run_conf=conf)

    assert states(second)[("needs_review", -1)] == "success"
    assert states(second)[("clean_list_ready", -1)] == "skipped"
    report = xcom(second, "report")
    assert report["previous_bad_share"] == 0.4
    assert report["bad_share"] == 0.625
    assert report["bad_share_jumped"]
    assert paid(sandbox) == {"+447400123477": 2, "+447400123498": 2, "+442079460000": 2}
    assert report["calls_saved_by"]["previous_results"] == 8
