"""Call and insight operators in real DAG runs against the HTTPS sandbox (dag.test())."""

from __future__ import annotations

from datetime import datetime, timezone

import pendulum
import phonenumbers
import pytest

from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.privacy import mask_caller_id
from tests.support.runs import (
    OPS_DAGS,
    billable,
    journal_entries,
    requests_for,
    run_dag,
    states,
    try_number,
    use_journal,
    use_sandbox,
    xcom,
)

pytestmark = pytest.mark.usefixtures("airflow_db")
DAG_FILE = OPS_DAGS / "ops_calls.py"
ALICE, BOB, CAROL = "+447911123431", "+447911123432", "+447911123433"


@pytest.fixture(autouse=True)
def journal(monkeypatch, tmp_path):
    return use_journal(monkeypatch, tmp_path)


def test_every_operator_once(sandbox, monkeypatch, journal) -> None:
    use_sandbox(monkeypatch, sandbox)

    dr = run_dag(DAG_FILE, "ops_calls")

    assert set(states(dr).values()) == {"success"}
    flash = xcom(dr, "flash")
    assert set(flash) == {"request_id", "from_number"}
    [flash_entry] = [e for e in journal_entries(journal) if e["kind"] == "flash_call"]
    caller_id = flash_entry["result"]["from_number"]
    assert caller_id.endswith("1234")  # the code, in the journal only
    assert flash["from_number"] == mask_caller_id(caller_id) == caller_id[:-6] + "******"
    assert xcom(dr, "notify_verified") == {"request_id": flash["request_id"]}
    assert set(xcom(dr, "pin")) == {"request_id"}
    assert set(xcom(dr, "speak")) == {"request_id"}
    hlr = xcom(dr, "hlr")
    assert hlr["status"] == "DELIVERED"
    assert hlr["country"] == phonenumbers.region_code_for_number(phonenumbers.parse(ALICE))
    assert hlr["number"] == mask_number(ALICE)
    assert xcom(dr, "fraud") == {
        "+4479******66": {"status": "FRAUDULENT", "mobile_prefix": True},
        "+4479******77": {"status": "SUSPICIOUS", "mobile_prefix": True},
        mask_number(ALICE): {"status": "PASSED", "mobile_prefix": True},
    }
    products = [e["product"] for e in sandbox.ledger() if e["billable"]]
    assert sorted(products) == sorted(
        ["flash", "p2s", "t2s", "hlr", "fraudcheck", "fraudcheck", "fraudcheck"]
    )
    assert [e["request_id"] for e in requests_for(sandbox, "notify")] == [flash["request_id"]]


def test_mapped_tasks(sandbox, monkeypatch) -> None:
    use_sandbox(monkeypatch, sandbox)

    dr = run_dag(DAG_FILE, "ops_mapped")

    assert set(states(dr).values()) == {"success"}
    assert len(states(dr)) == 2 + 2 + 2 + 1 + 2
    assert xcom(dr, "hlr", 1)["status"] == "UNDELIVERED"
    assert xcom(dr, "fraud", 1)["status"] == "FRAUDULENT"
    assert set(xcom(dr, "sms", 0)["sent"].values()) == {mask_number(ALICE), mask_number(BOB)}
    assert set(xcom(dr, "sms", 1)["sent"].values()) == {mask_number(CAROL)}
    assert billable(sandbox, "flash") == {ALICE: 1, BOB: 1}
    assert billable(sandbox, "sms") == {ALICE: 1, BOB: 1, CAROL: 1}
    assert billable(sandbox, "t2s") == {CAROL: 1}


def test_unsupported_language_fails_before_any_request(sandbox, monkeypatch, capfd) -> None:
    use_sandbox(monkeypatch, sandbox)

    dr = run_dag(DAG_FILE, "ops_bad_language")

    assert states(dr) == {("speak", -1): "failed"}
    assert try_number(dr, "speak") == 1  # a local refusal is final: no retry
    assert sandbox.ledger() == []
    assert "does not support language 'de'; supported: en, ru" in capfd.readouterr().out


def test_flash_call_with_lost_answer_is_not_placed_again(sandbox, monkeypatch, journal) -> None:
    use_sandbox(monkeypatch, sandbox, timeout=0.5)
    sandbox.set_faults("stall=1.0,stall_seconds=2")

    dr = run_dag(DAG_FILE, "ops_flash_stall")

    assert states(dr) == {("flash", -1): "failed"}
    assert try_number(dr, "flash") == 1  # unknown outcome: failing again on retry would not help
    assert billable(sandbox, "flash") == {ALICE: 1}
    [entry] = journal_entries(journal)
    assert entry["status"] == "unknown"
    assert entry["kind"] == "flash_call"


def test_incoming_call_reservation_is_reused_while_valid(sandbox, monkeypatch) -> None:
    use_sandbox(monkeypatch, sandbox)
    when = datetime(2024, 6, 1, tzinfo=timezone.utc)

    first = xcom(run_dag(DAG_FILE, "ops_incoming_reserve", logical_date=when, run_after=when), "reserve")
    again = xcom(run_dag(DAG_FILE, "ops_incoming_reserve", logical_date=when, run_after=when), "reserve")

    assert set(first) == {"request_id", "did_number", "expires_at"}
    assert pendulum.parse(first["expires_at"]) > pendulum.now("UTC")
    assert again == first
    assert billable(sandbox, "incoming") == {ALICE: 1}


def test_expired_reservation_is_replaced_on_rerun(sandbox_factory, monkeypatch) -> None:
    when = datetime(2024, 6, 2, tzinfo=timezone.utc)
    with sandbox_factory(expire_after=1) as sb:  # shorter than the reuse margin: never reused
        use_sandbox(monkeypatch, sb)

        first = xcom(run_dag(DAG_FILE, "ops_incoming_reserve", logical_date=when, run_after=when), "reserve")
        again = xcom(run_dag(DAG_FILE, "ops_incoming_reserve", logical_date=when, run_after=when), "reserve")

        assert again["request_id"] != first["request_id"]
        assert billable(sb, "incoming") == {ALICE: 2}
