"""Run summaries as Asset events in real DAG runs (dag.test()) against the sandbox: counts only,
paid requests equal to the sandbox's ledger, and the users' own outlets untouched."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_sms.summaries import HYGIENE_SUMMARIES, SMS_SUMMARIES, USAGE_SUMMARIES, receipt_key
from tests.sandbox.test_hygiene_dags import RATE, asset_extras, write_list
from tests.support.runs import OPS_DAGS, run_dag, states, use_journal, use_sandbox, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")


def summary_events(name: str, run_id: str) -> list[dict[str, Any]]:
    """``task_id``, ``map_index`` and ``extra`` of the run's events of asset ``name``."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(
            sa.select(AssetEvent.source_task_id, AssetEvent.source_map_index, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == name, AssetEvent.source_run_id == run_id)
            .order_by(AssetEvent.id)
        ).all()
    return [{"task_id": t, "map_index": m, "extra": e} for t, m, e in rows]


def assert_counts_only(extra: dict[str, Any], *secrets: str) -> None:
    text = json.dumps(extra)
    for secret in secrets:
        assert secret.lstrip("+") not in text


def test_hygiene_publishes_its_summary_beside_the_users_clean_list_asset(sandbox, monkeypatch, tmp_path):
    sandbox.set_rate_limit(RATE)
    use_sandbox(monkeypatch, sandbox, rate_limit=RATE)
    numbers = ["+447400123456", "+447400123466", "+44 7400 123456", "+447400123499"]
    source = write_list(tmp_path / "in.csv", numbers, "phone")
    conf = {"input_path": str(source), "output_path": str(tmp_path / "out.csv")}

    dr = run_dag(OPS_DAGS / "hyg_operator.py", "hyg_operator", run_conf=conf)

    assert states(dr) == {("hygiene", -1): "success"}
    result = xcom(dr, "hygiene")
    # The user's own outlet still gets its event, with its own extra.
    assert asset_extras("sms-api://tests/hygiene-clean-list")[-1]["valid"] == result["verdicts"]["VALID"]
    [event] = summary_events(HYGIENE_SUMMARIES.name, dr.run_id)
    extra = event["extra"]
    assert event["task_id"] == "hygiene"
    assert extra["kind"] == "hygiene"
    assert extra["rows"] == 4
    assert extra["verdicts"] == result["verdicts"]
    assert extra["api_calls"] == result["api_calls"]
    assert extra["calls_saved"] == result["calls_saved"] > 0
    ledger = Counter(e["product"] for e in sandbox.ledger() if e["billable"])
    assert extra["paid"] == {"hlr": ledger["hlr"], "fraud_check": ledger["fraudcheck"]}
    assert extra["started_at"]
    assert_counts_only(extra, *numbers)


def test_send_summary_counts_and_receipt_keys_of_each_mapped_try(sandbox, monkeypatch, tmp_path):
    use_sandbox(monkeypatch, sandbox)
    use_journal(monkeypatch, tmp_path)

    dr = run_dag(OPS_DAGS / "ops_sms.py", "ops_sms_mixed")

    # map index 0 succeeds (2 sent, 1 invalid); index 1 fails (sender refused): no summary.
    [event] = summary_events(SMS_SUMMARIES.name, dr.run_id)
    assert event["map_index"] == 0
    extra = event["extra"]
    report = xcom(dr, "send", 0)
    assert {k: extra[k] for k in ("numbers", "sent", "already_sent", "failed", "unknown")} == report["counts"]
    assert extra["paid"] == {"sms": 2}
    assert extra["receipt_keys"] == sorted(receipt_key(rid) for rid in report["sent"].values())
    assert_counts_only(extra, *report["sent"], *report["sent"].values())


def test_look_ups_and_calls_publish_what_they_paid(sandbox, monkeypatch, tmp_path):
    use_sandbox(monkeypatch, sandbox)
    use_journal(monkeypatch, tmp_path)

    dr = run_dag(OPS_DAGS / "ops_calls.py", "ops_calls")

    assert set(states(dr).values()) == {"success"}
    paid = {e["task_id"]: e["extra"]["paid"] for e in summary_events(USAGE_SUMMARIES.name, dr.run_id)}
    assert paid == {
        "flash": {"calls": 1},
        "pin": {"calls": 1},
        "speak": {"calls": 1},
        "hlr": {"hlr": 1},
        "fraud": {"fraud_check": 3},
    }
    ledger = Counter(e["product"] for e in sandbox.ledger() if e["billable"])
    reported: Counter[str] = Counter()
    for kinds in paid.values():
        reported.update(kinds)
    assert reported["fraud_check"] == ledger["fraudcheck"]
    assert reported["hlr"] == ledger["hlr"]
    assert reported["calls"] == ledger["flash"] + ledger["p2s"] + ledger["t2s"] == 3
