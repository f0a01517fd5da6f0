"""The example DAGs parse cleanly and run end to end against the HTTPS sandbox."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.airflow_env import REPO_ROOT
from tests.support.runs import (
    billable,
    journal_entries,
    load_dag,
    requests_for,
    run_dag,
    states,
    use_journal,
    use_sandbox,
    xcom,
)

pytestmark = pytest.mark.usefixtures("airflow_db")
EXAMPLES = REPO_ROOT / "example_dags"


def test_example_dags_have_no_import_errors() -> None:
    """What ``airflow dags list-import-errors --local`` checks, with example_dags/ as the DAGs folder."""
    from tests.compat import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES), safe_mode=False)

    assert bag.import_errors == {}
    assert {
        "phone_verification_incoming_call",
        "phone_verification_flash_call",
        "failure_alerting",
    } <= set(bag.dag_ids)


def test_phone_verification_by_incoming_call(sandbox, monkeypatch, tmp_path) -> None:
    use_sandbox(monkeypatch, sandbox)
    use_journal(monkeypatch, tmp_path)

    dr = run_dag(EXAMPLES / "phone_verification.py", "phone_verification_incoming_call")

    assert set(states(dr).values()) == {"success"}
    assert xcom(dr, "wait_for_call")["status"] == "DELIVERED"
    request_id = xcom(dr, "reserve_number")["request_id"]
    assert [e["request_id"] for e in requests_for(sandbox, "notify")] == [request_id]


def test_phone_verification_by_flash_call(sandbox, monkeypatch, tmp_path) -> None:
    use_sandbox(monkeypatch, sandbox)
    use_journal(monkeypatch, tmp_path)

    code = {"code": "90210", "entered_code": "90210"}
    dr = run_dag(EXAMPLES / "phone_verification.py", "phone_verification_flash_call", run_conf=code)

    assert set(states(dr).values()) == {"success"}
    [entry] = journal_entries(tmp_path)
    assert entry["result"]["from_number"].endswith("90210")  # the caller id carries the code...
    assert (
        xcom(dr, "flash_call")["from_number"] == entry["result"]["from_number"][:-6] + "******"
    )  # ... not XCom
    assert billable(sandbox, "flash") == {"+447911123451": 1}
    assert len(requests_for(sandbox, "notify")) == 1


def test_phone_verification_by_flash_call_refuses_a_wrong_code(sandbox, monkeypatch, tmp_path) -> None:
    use_sandbox(monkeypatch, sandbox)
    use_journal(monkeypatch, tmp_path)
    code = {"code": "90210", "entered_code": "90211"}

    dr = run_dag(EXAMPLES / "phone_verification.py", "phone_verification_flash_call", run_conf=code)

    assert states(dr)[("check_code", -1)] == "failed"
    assert requests_for(sandbox, "notify") == []


def test_failure_alerting_pages_by_sms_and_voice(sandbox, monkeypatch) -> None:
    use_sandbox(monkeypatch, sandbox)
    oncall = "+447911123457"

    dr = run_dag(EXAMPLES / "failure_alerting.py", "failure_alerting", run_conf={"oncall": oncall})

    assert states(dr) == {("load_orders", -1): "failed"}
    assert billable(sandbox, "t2s") == {oncall: 1}
    # The task callback's SMS. The DAG callback's SMS needs the connection outside any task,
    # which dag.test() here cannot give it (see test_failure_alerting_dag_callback).
    assert billable(sandbox, "sms")[oncall] >= 1


def test_failure_alerting_dag_callback(sandbox, monkeypatch) -> None:
    """The DAG-level notifier renders with the serialized DAG a DAG callback gets, and sends."""
    from tests.compat import DagSerialization

    use_sandbox(monkeypatch, sandbox)
    dag = load_dag(EXAMPLES / "failure_alerting.py", "failure_alerting")
    [notifier] = (
        dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
    )
    serialized = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    context = {
        "dag": serialized,
        "dag_run": SimpleNamespace(run_id="manual__2024-01-01"),
        "params": {"oncall": "+447911123458"},
        "reason": "task_failure",
    }

    notifier(context)

    assert notifier.text == "Airflow: run manual__2024-01-01 of failure_alerting failed"
    assert billable(sandbox, "sms") == {"+447911123458": 1}


def test_order_notifications_texts_each_row_and_waits_for_quiet_hours(sandbox, monkeypatch, tmp_path) -> None:
    """12:59:58 UTC: London is open, New York (07:59:58) opens two seconds later; an opted-out
    customer is skipped; each person gets their own text, once."""
    import time
    from datetime import datetime, timedelta, timezone

    from airflow_provider_sms.operators import sms
    from airflow_provider_sms.sending.suppression import add_to_suppression_list

    use_sandbox(monkeypatch, sandbox)
    use_journal(monkeypatch, tmp_path / "journal")
    monkeypatch.setenv("AIRFLOW__SMS_API__DATA_PATH", str(tmp_path / "data"))
    add_to_suppression_list(tmp_path / "data" / "suppression.csv", ["+447911123403"], reason="STOP")
    fake, started = datetime(2026, 1, 15, 12, 59, 58, tzinfo=timezone.utc), []

    def clock() -> datetime:  # says 12:59:58 when the task first reads it, then runs at real speed
        started.append(time.monotonic())
        return fake + timedelta(seconds=time.monotonic() - started[0])

    monkeypatch.setattr(sms, "system_clock", clock)
    orders = [
        {"number": "+447911123401", "first_name": "Maja", "order_id": "29211"},
        {"number": "+12125550101", "first_name": "Bob", "order_id": "29213"},
        {"number": "+447911123403", "first_name": "Olga", "order_id": "29214"},
    ]

    dr = run_dag(EXAMPLES / "order_notifications.py", "order_notifications", run_conf={"orders": orders})

    assert set(states(dr).values()) == {"success"}
    texts = [(e["number"], e["text"]) for e in requests_for(sandbox, "sms")]
    assert texts == [
        ("+447911123401", "Hi Maja, your order 29211 from Corner Shop ships today. Reply STOP to opt out."),
        ("+12125550101", "Hi Bob, your order 29213 from Corner Shop ships today. Reply STOP to opt out."),
    ]
    report = xcom(dr, "notify")
    assert (report["counts"]["suppressed"], report["counts"]["already_sent"]) == (1, 1)
