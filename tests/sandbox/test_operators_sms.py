"""SendSmsOperator in real DAG runs (dag.test()) against the HTTPS sandbox; the ledger is the proof."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_sms.api.numbers import mask_number
from tests.support.runs import (
    OPS_DAGS,
    billable,
    journal_entries,
    run_dag,
    states,
    try_number,
    use_journal,
    use_sandbox,
    xcom,
)

pytestmark = pytest.mark.usefixtures("airflow_db")
DAG_FILE = OPS_DAGS / "ops_sms.py"
GOOD = ["+447911123411", "+447911123412"]


def test_list_with_invalid_number_and_sender_not_allowed(sandbox, monkeypatch, tmp_path: Path, capfd) -> None:
    use_sandbox(monkeypatch, sandbox)
    use_journal(monkeypatch, tmp_path)

    dr = run_dag(DAG_FILE, "ops_sms_mixed")

    assert states(dr) == {("send", 0): "success", ("send", 1): "failed"}
    report = xcom(dr, "send", 0)
    request_ids = {e["number"]: e["request_id"] for e in sandbox.ledger() if e["billable"]}
    assert report["sent"] == {request_ids[GOOD[0]]: "+4479******11", request_ids[GOOD[1]]: "+4479******12"}
    assert [f["number"] for f in report["failed"]] == ["+****"]
    assert report["unknown"] == report["elsewhere"] == []
    assert report["already_sent"] == 0
    assert report["counts"] == {
        "numbers": 3,
        "sent": 2,
        "already_sent": 0,
        "failed": 1,
        "unknown": 0,
        "elsewhere": 0,
    }
    # Deduplicated: each person got exactly one billable SMS, from the allowed sender only.
    assert billable(sandbox, "sms") == {GOOD[0]: 1, GOOD[1]: 1}
    refused = [e for e in sandbox.ledger() if e["product"] == "sms" and e["http_status"] == 400]
    assert sorted(e["number"] for e in refused) == sorted(GOOD)
    out = capfd.readouterr().out
    assert "+4479******11" in out
    assert not any(number in out for number in GOOD)  # numbers are masked in every log line


def test_a_large_list_keeps_xcom_small_and_its_full_report_beside_the_journal(
    sandbox, monkeypatch, tmp_path: Path
) -> None:
    """Above LARGE_LIST numbers the XCom holds counts and a path; load_report reads the file."""
    from airflow_provider_sms.operators import sms
    from airflow_provider_sms.sending import report

    monkeypatch.setattr(report, "LARGE_LIST", 1)  # the mixed list's 3 numbers count as large
    use_sandbox(monkeypatch, sandbox)
    journal = use_journal(monkeypatch, tmp_path)

    dr = run_dag(DAG_FILE, "ops_sms_mixed")

    slim = xcom(dr, "send", 0)
    assert set(slim) == {"counts", "already_sent", "full_numbers", "report_path"}
    assert Path(slim["report_path"]).is_relative_to(journal)
    full = sms.load_report(slim)
    assert sorted(full["sent"].values()) == ["+4479******11", "+4479******12"]
    assert (
        full["counts"]
        == slim["counts"]
        == {
            "numbers": 3,
            "sent": 2,
            "already_sent": 0,
            "failed": 1,
            "unknown": 0,
            "elsewhere": 0,
        }
    )
    assert sms.load_report(full) is full  # a small report is its own XCom


def test_retry_after_mid_list_failure_sends_nothing_twice(sandbox_factory, monkeypatch, tmp_path) -> None:
    """Try 1: the sandbox admits 1 request/s, so most numbers get 429 (refused: nobody reached)
    and the task fails after journalling what it sent. The retry callback restores the rate;
    try 2 sends only the refused numbers. Every number ends with exactly one billable SMS."""
    numbers = [f"+4479111234{i:02d}" for i in range(20, 30)]
    journal = use_journal(monkeypatch, tmp_path)
    # Its own sandbox: the 429s slow down this account's limiter, which is per process.
    with sandbox_factory(rate_limit=1) as sb:
        use_sandbox(monkeypatch, sb, max_retries=0, rate_limit=1000)

        dr = run_dag(DAG_FILE, "ops_sms_retry")

        assert states(dr) == {("send", -1): "success"}
        assert try_number(dr, "send") == 2
        report = xcom(dr, "send")
        assert report["failed"] == []
        assert report["unknown"] == []
        # Try 1 sent some numbers (the sandbox's 429s are not in its ledger) but not all of them.
        assert 1 <= report["already_sent"] < len(numbers)
        assert billable(sb, "sms") == dict.fromkeys(numbers, 1)
        request_ids = {e["request_id"]: mask_number(e["number"]) for e in sb.ledger() if e["billable"]}
        assert report["sent"] == request_ids  # keyed by request id, numbers masked
        assert {e["status"] for e in journal_entries(journal)} == {"sent"}


def test_stalled_send_is_unknown_and_not_resent_on_retry(sandbox, monkeypatch, tmp_path, capfd) -> None:
    """The sandbox processes each SMS (billed) and then holds the answer longer than the
    connection's timeout: the outcome is unknown, the retry must not send again."""
    numbers = ["+447911123411", "+447911123412", "+447911123413"]
    journal = use_journal(monkeypatch, tmp_path)
    use_sandbox(monkeypatch, sandbox, timeout=0.5)
    sandbox.set_faults("stall=1.0,stall_seconds=2")

    logical_date = datetime(2024, 6, 1, tzinfo=timezone.utc)
    same_run = {"logical_date": logical_date, "run_after": logical_date}

    dr = run_dag(DAG_FILE, "ops_sms_stall", **same_run)

    assert states(dr) == {("send", -1): "failed"}
    # Only unknown outcomes: a retry could not help (the journal stops it), so none is made...
    assert try_number(dr, "send") == 1
    dr = run_dag(DAG_FILE, "ops_sms_stall", **same_run)  # ... and a re-run of the run sends nothing
    assert states(dr) == {("send", -1): "failed"}
    assert "(3 earlier entries)" in capfd.readouterr().out  # it did run again, and read the journal
    assert billable(sandbox, "sms") == dict.fromkeys(numbers, 1)  # nobody got a second SMS
    entries = journal_entries(journal)
    assert sorted(e["number"] for e in entries) == numbers
    assert {e["status"] for e in entries} == {"unknown"}
    assert all("may or may not have gone out" in e["error"] for e in entries)


def test_templated_numbers_and_rerun_of_the_same_run(sandbox, monkeypatch, tmp_path) -> None:
    """Numbers from params (native rendering); running the same DAG run again skips everyone."""
    use_journal(monkeypatch, tmp_path)
    use_sandbox(monkeypatch, sandbox)
    logical_date = datetime(2024, 5, 1, tzinfo=timezone.utc)

    same_run = {"logical_date": logical_date, "run_after": logical_date}  # same run_id twice

    first = xcom(run_dag(DAG_FILE, "ops_sms_templated", **same_run), "send")
    again = xcom(run_dag(DAG_FILE, "ops_sms_templated", **same_run), "send")

    assert sorted(first["sent"].values()) == [mask_number(n) for n in GOOD[:2]]
    assert first["already_sent"] == 0
    assert again["sent"] == first["sent"]
    assert again["already_sent"] == 2
    assert billable(sandbox, "sms") == dict.fromkeys(GOOD, 1)
    texts = [e for e in sandbox.ledger() if e["product"] == "sms"]
    assert len(texts) == 2


def test_changed_text_is_a_new_message(sandbox, monkeypatch, tmp_path) -> None:
    use_journal(monkeypatch, tmp_path)
    use_sandbox(monkeypatch, sandbox)
    logical_date = datetime(2024, 5, 2, tzinfo=timezone.utc)

    same_run = {"logical_date": logical_date, "run_after": logical_date}

    run_dag(DAG_FILE, "ops_sms_templated", **same_run)
    dr = run_dag(DAG_FILE, "ops_sms_templated", **same_run, run_conf={"who": "Grace"})

    assert xcom(dr, "send")["already_sent"] == 0
    assert billable(sandbox, "sms") == dict.fromkeys(GOOD, 2)


def test_callback_url_airflow_resolves_at_execution(sandbox, monkeypatch, tmp_path, webhook_receiver, capfd):
    """``callback_url="airflow"``: the receipts reach this deployment's webhook, and the secret
    in its URL appears neither in the logs nor in the rendered template fields."""
    secret = "s3cret-0123456789-abcdef"
    use_journal(monkeypatch, tmp_path)
    use_sandbox(monkeypatch, sandbox)
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_BASE_URL", webhook_receiver.url)
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_SECRET", secret)

    dr = run_dag(DAG_FILE, "ops_sms_receipts")

    assert states(dr) == {("send", -1): "success"}
    webhook_receiver.wait_for(2)  # the first receipt of each number
    paths = {r["path"] for r in webhook_receiver.records}
    assert paths == {f"/hook/sms-api/webhooks/{secret}/delivery-receipts"}
    assert secret not in capfd.readouterr().out
    rendered = rendered_fields(dr, "send")
    assert rendered["callback_url"] == "airflow"
    assert secret not in json.dumps(rendered)


def rendered_fields(dag_run, task_id: str) -> dict:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(RenderedTaskInstanceFields)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id)
            .one()
        )
        return dict(row.rendered_fields)


def test_clear_and_remap_sends_once(sandbox, monkeypatch, tmp_path) -> None:
    """A mapped send, run; the run cleared and run again with the upstream list in another
    order, so every person moved to another map index: nobody gets a second SMS."""
    from tests.dags.ops_sms import REMAP

    use_journal(monkeypatch, tmp_path)
    use_sandbox(monkeypatch, sandbox)
    logical_date = datetime(2024, 5, 3, tzinfo=timezone.utc)
    same_run = {"logical_date": logical_date, "run_after": logical_date}

    first = run_dag(DAG_FILE, "ops_sms_remap", **same_run)
    again = run_dag(DAG_FILE, "ops_sms_remap", **same_run, run_conf={"order": "reversed"})

    assert again.run_id == first.run_id
    assert set(states(again).values()) == {"success"}
    assert billable(sandbox, "sms") == dict.fromkeys(REMAP, 1)
    # REMAP[0] went from map index 0 to map index 1: reported there as sent before, same request id.
    request_id = next(e["request_id"] for e in sandbox.ledger() if e["number"] == REMAP[0])
    moved = xcom(again, "send", 1)
    assert moved["sent"] == {request_id: mask_number(REMAP[0])}
    assert moved["already_sent"] == 1
    assert xcom(again, "send", 0)["already_sent"] == 2


def test_a_local_journal_under_a_multi_host_executor_warns_once(
    sandbox, monkeypatch, tmp_path, capfd
) -> None:
    """[core] executor may run a retry on another host: the task says its journal is local."""
    use_journal(monkeypatch, tmp_path)
    use_sandbox(monkeypatch, sandbox)
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor,CeleryExecutor")

    dr = run_dag(DAG_FILE, "ops_sms_templated")

    assert states(dr) == {("send", -1): "success"}
    out = capfd.readouterr().out
    warning = (
        f"The send journal is at {tmp_path}, a folder on this worker, but [core] executor = CeleryExecutor"
    )
    assert out.count(warning) == 1
    assert "[sms_api] local_paths_shared = True" in out
