"""What Airflow keeps of a run holds no full number and no one-time code, with the defaults.

Every sending operator, both notifiers (``tests/dags/ops_privacy.py``) and the example campaign
run with ``dag.test()`` against the sandbox; then the task log (the process's output, captured
at the file descriptors, and any task log file under ``$AIRFLOW_HOME/logs``), the rendered
fields (table ``rendered_task_instance_fields``) and the XComs (table ``xcom``) are read back
and searched. With ``log_full_numbers`` on the connection and ``xcom_full_numbers=True`` the
full numbers appear where the docs say, and codes still do not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sms.api.numbers import mask_number
from tests.airflow_env import REPO_ROOT
from tests.dags.ops_privacy import CODE, NUMBERS, ONCALL
from tests.support.runs import OPS_DAGS, journal_entries, run_dag, states, use_journal, use_sandbox

pytestmark = pytest.mark.usefixtures("airflow_db")
DAG_FILE = OPS_DAGS / "ops_privacy.py"
PEOPLE = [*NUMBERS, ONCALL]


def rendered_fields(dag_run: Any) -> dict[tuple[str, int], dict[str, Any]]:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rtif
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(Rtif).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
        return {(row.task_id, row.map_index): dict(row.rendered_fields) for row in rows}


def xcoms(dag_run: Any) -> dict[tuple[str, int, str], Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
        return {(row.task_id, row.map_index, row.key): row.value for row in rows}


def task_log_files(dag_run: Any) -> str:
    logs = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    texts = [
        p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file() and dag_run.run_id in str(p)
    ]
    return "\n".join(texts)


def secrets_in(text: str, secrets: list[str]) -> list[str]:
    """The secrets found in ``text``, numbers with or without their ``+``."""
    return [s for s in secrets if s in text or s.lstrip("+") in text]


def everything_kept(dag_run: Any, capfd: pytest.CaptureFixture[str]) -> dict[str, str]:
    out, err = capfd.readouterr()
    return {
        "task log": out + err + task_log_files(dag_run),
        "rendered fields": json.dumps({str(k): v for k, v in rendered_fields(dag_run).items()}, default=str),
        "xcom": json.dumps({str(k): v for k, v in xcoms(dag_run).items()}, default=str),
    }


def test_every_sending_operator_and_notifier_keeps_numbers_and_codes_private(
    sandbox, monkeypatch, tmp_path: Path, capfd
) -> None:
    use_sandbox(monkeypatch, sandbox)
    journal = use_journal(monkeypatch, tmp_path)

    dr = run_dag(DAG_FILE, "ops_privacy")

    failed = {key for key, state in states(dr).items() if state != "success"}
    assert failed == {("load", -1)}  # the task whose failure callbacks page the on-call number
    paid = {e["product"] for e in sandbox.ledger() if e["billable"]}
    assert paid == {"sms", "flash", "p2s", "t2s", "incoming", "hlr", "fraudcheck"}
    assert {e["number"] for e in sandbox.ledger() if e["product"] in ("sms", "t2s")} >= {ONCALL}  # paged
    caller_ids = [e["result"]["from_number"] for e in journal_entries(journal) if e["kind"] == "flash_call"]
    assert len(caller_ids) == 1
    assert caller_ids[0].endswith(CODE)
    kept = everything_kept(dr, capfd)
    for where, text in kept.items():
        assert secrets_in(text, [*PEOPLE, CODE, *caller_ids]) == [], where

    # What is shown instead.
    fields = rendered_fields(dr)
    assert fields[("sms_code", -1)]["numbers"] == [mask_number(n) for n in NUMBERS[:2]]
    assert fields[("sms_code", -1)]["text"] == "***"
    assert fields[("sms_news", -1)]["text"] == "Our shop opens at 9"  # not a secret
    # Native rendering (render_template_as_native_obj) turns a literal "+44..." into the int 44...
    assert fields[("sms_mapped", 1)]["numbers"] == [mask_number(n.lstrip("+")) for n in NUMBERS[1:3]]
    assert (
        fields[("flash", -1)]["code"] == fields[("pin", -1)]["code"] == fields[("speak", -1)]["text"] == "***"
    )
    assert fields[("reserve", -1)]["number"] == mask_number(NUMBERS[3].lstrip("+"))
    values = xcoms(dr)
    assert sorted(values[("sms_news", -1, "return_value")]["sent"].values()) == [
        mask_number(n) for n in NUMBERS
    ]
    assert set(values[("hlr", -1, "return_value")]) == {mask_number(n) for n in NUMBERS[:2]}
    assert values[("flash", -1, "return_value")]["from_number"] == caller_ids[0][:-6] + "******"
    assert "+4479******6" in kept["task log"]  # numbers are logged, masked


def test_with_log_full_numbers_and_xcom_full_numbers_the_numbers_appear_where_documented(
    sandbox, monkeypatch, tmp_path: Path, capfd
) -> None:
    use_sandbox(monkeypatch, sandbox, log_full_numbers=True)
    journal = use_journal(monkeypatch, tmp_path)

    dr = run_dag(DAG_FILE, "ops_privacy_full")

    kept = everything_kept(dr, capfd)
    caller_ids = [e["result"]["from_number"] for e in journal_entries(journal) if e["kind"] == "flash_call"]
    fields, values = rendered_fields(dr), xcoms(dr)
    # log_full_numbers: full numbers in the task log and in the rendered fields...
    assert NUMBERS[0] in kept["task log"]
    assert fields[("sms_code", -1)]["numbers"] == NUMBERS[:2]
    assert str(fields[("reserve", -1)]["number"]) == NUMBERS[3].lstrip("+")  # an int: native rendering
    # ... xcom_full_numbers: in the XComs ...
    assert sorted(values[("sms_news", -1, "return_value")]["sent"].values()) == sorted(NUMBERS)
    assert set(values[("hlr", -1, "return_value")]) == set(NUMBERS[:2])
    assert values[("flash", -1, "return_value")]["from_number"] == caller_ids[0]  # with the code: asked for
    # ... and codes stay out of the log and the rendered fields whatever the switches.
    for where in ("task log", "rendered fields"):
        assert secrets_in(kept[where], [CODE]) == [], where
    assert fields[("sms_code", -1)]["text"] == fields[("pin", -1)]["code"] == "***"


def test_the_example_campaign_keeps_its_recipients_private(
    sandbox, monkeypatch, tmp_path: Path, capfd, webhook_receiver
) -> None:
    people = ["+447911123471", "+447911123472", "+447911123473"]
    clean = tmp_path / "june.clean.csv"
    clean.write_text("number,e164\n" + "".join(f"{n},{n}\n" for n in people))
    monkeypatch.setenv("AIRFLOW__SMS_API__DATA_PATH", str(tmp_path / "data"))
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_BASE_URL", webhook_receiver.url)
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_SECRET", "campaign-privacy-secret-0123456789")
    monkeypatch.delenv("AIRFLOW__SMS_API__JOURNAL_PATH", raising=False)  # the default: <data_path>/journal
    use_sandbox(monkeypatch, sandbox)
    conf = {"clean_list": str(clean), "message": "Our shop opens at 9", "campaign_id": "privacy"}

    dr = run_dag(REPO_ROOT / "example_dags" / "sms_campaign.py", "sms_campaign", run_conf=conf)

    assert set(states(dr).values()) == {"success"}
    assert sorted(e["number"] for e in sandbox.ledger() if e["billable"]) == people
    for where, text in everything_kept(dr, capfd).items():
        assert secrets_in(text, people) == [], where
    selected = xcoms(dr)[("select_recipients", -1, "return_value")]
    assert selected["recipients"] == 3
    assert Path(selected["numbers_file"]).read_text().split() == people  # the numbers travel as a file
    assert list((tmp_path / "data" / "journal" / "sms_campaign").rglob("*.1.json"))  # the default journal
