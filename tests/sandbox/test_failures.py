"""A setup that cannot work stops every operator at once, without Airflow retries (docs/failures.md).

Each ``fail_<name>`` DAG of tests/dags/ops_failures.py runs one operator form with ``retries=2``
against the HTTPS sandbox through a broken connection: the task must fail at try 1, after a
handful of requests at most (the sandbox's ledger), not one per number.
"""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sms.exceptions import AuthenticationError, SmsApiConfigError
from tests.support.runs import OPS_DAGS, run_dag, states, try_number, use_journal, use_sandbox

pytestmark = pytest.mark.usefixtures("airflow_db", "fresh_limiters")
DAG_FILE = OPS_DAGS / "ops_failures.py"

OPERATORS = [
    "sms_one",
    "sms_list",
    "flash_call",
    "pin_call",
    "tts_call",
    "incoming_call",
    "notify_verified",
    "hlr_one",
    "hlr_list",
    "fraud_one",
    "fraud_list",
    "sensor_poke",
    "sensor_reschedule",
    "sensor_deferrable",
    "hygiene",
]
# Requests the sandbox may see before the task stops: the list send's 8 workers each make one.
HANDFUL = 8


def break_connection(monkeypatch: pytest.MonkeyPatch, sandbox: Any, how: str, tmp_path: Path) -> None:
    """Point ``sms_api_default`` at the sandbox, broken in one way a user gets wrong."""
    if how == "bad_ca":
        not_a_certificate = tmp_path / "ca.pem"
        not_a_certificate.write_text("this is not a certificate\n")
        use_sandbox(monkeypatch, sandbox, verify=str(not_a_certificate))
        return
    conn = use_sandbox(monkeypatch, sandbox)
    if how == "wrong_password":
        conn["password"] = "not-the-secret"
    elif how == "http_host":
        conn["host"] = conn["host"].replace("https://", "http://")
    else:
        raise AssertionError(how)
    monkeypatch.setenv("AIRFLOW_CONN_SMS_API_DEFAULT", json.dumps(conn))
    from tests.support.runs import _store_connection

    _store_connection("sms_api_default", conn)


def hygiene_conf(tmp_path: Path, column: str = "phone") -> dict[str, str]:
    source = tmp_path / "list.csv"
    with source.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([column, "name"])
        writer.writerows([f"+4479111235{i:02d}", f"person {i}"] for i in range(40))
    return {"input_path": str(source), "output_path": str(tmp_path / "out" / "checked.csv")}


@pytest.mark.parametrize("how", ["wrong_password", "http_host", "bad_ca"])
@pytest.mark.parametrize("name", OPERATORS)
def test_a_broken_connection_fails_the_task_at_once_without_retries(
    sandbox, monkeypatch, tmp_path: Path, capfd, name: str, how: str
) -> None:
    use_journal(monkeypatch, tmp_path / "journal")
    break_connection(monkeypatch, sandbox, how, tmp_path)
    conf = hygiene_conf(tmp_path) if name == "hygiene" else None

    dr = run_dag(DAG_FILE, f"fail_{name}", run_conf=conf)

    assert states(dr) == {("t", -1): "failed"}
    assert try_number(dr, "t") == 1  # retries=2, yet no retry: nothing could heal it
    assert sandbox.ledger() == []
    if how == "wrong_password":
        refused = sandbox.refused()
        assert set(refused) == {1}  # errorCode 1: HTTP 401
        assert 1 <= refused[1] <= HANDFUL, refused  # not one per number
    else:
        assert sandbox.refused() == {}  # refused before any request left
    assert "no retry can fix" in capfd.readouterr().out


def test_a_hygiene_list_without_its_number_column_fails_without_retries(
    sandbox, monkeypatch, tmp_path: Path
) -> None:
    use_sandbox(monkeypatch, sandbox)

    dr = run_dag(DAG_FILE, "fail_hygiene", run_conf=hygiene_conf(tmp_path, column="mobile"))

    assert states(dr) == {("t", -1): "failed"}
    assert try_number(dr, "t") == 1
    assert sandbox.ledger() == []


def test_the_trigger_reports_a_fatal_error_and_the_sensor_fails_without_retry(
    sandbox, monkeypatch, tmp_path
) -> None:
    """Deferred: the trigger's error event says ``fatal``; the sensor fails without retries."""
    from airflow_provider_sms.compat import AirflowException, AirflowFailException
    from airflow_provider_sms.sensors.incoming_call import IncomingCallSensor
    from airflow_provider_sms.triggers.incoming_call import IncomingCallTrigger

    break_connection(monkeypatch, sandbox, "wrong_password", tmp_path)

    async def first_event() -> dict[str, Any]:
        async for event in IncomingCallTrigger("req-1", poke_interval=0.1).run():
            return event.payload
        raise AssertionError("no event")

    event = asyncio.run(first_event())

    assert event["status"] == "error"
    assert event["fatal"] is True
    assert sandbox.refused() == {1: 1}
    sensor = IncomingCallSensor(task_id="wait", request_id="req-1", deferrable=True)
    with pytest.raises(AirflowFailException, match="Fix the connection"):
        sensor.execute_complete({}, event)  # type: ignore[arg-type]
    # A transient error event stays retryable.
    with pytest.raises(AirflowException, match="boom") as transient:
        sensor.execute_complete({}, {"status": "error", "message": "boom"})  # type: ignore[arg-type]
    assert not isinstance(transient.value, AirflowFailException)


@pytest.mark.parametrize("path", ["sync", "async"])
def test_a_notifier_stops_at_the_first_fatal_error(sandbox, monkeypatch, tmp_path, path: str) -> None:
    from airflow_provider_sms.compat import AirflowFailException
    from airflow_provider_sms.notifications.sms import SmsNotifier

    break_connection(monkeypatch, sandbox, "wrong_password", tmp_path)
    notifier = SmsNotifier(numbers=[f"+4479111236{i:02d}" for i in range(20)], text="Task failed")

    def notify() -> None:
        if path == "sync":
            notifier.notify({})  # type: ignore[arg-type]
        else:
            asyncio.run(notifier.async_notify({}))  # type: ignore[arg-type]

    with pytest.raises(AirflowFailException, match="no retry can fix") as failure:
        notify()

    assert isinstance(failure.value.__cause__, AuthenticationError)
    if path == "sync":
        assert sandbox.refused() == {1: 1}
    else:  # sent concurrently: those started before the first 401 came back may all be tried
        assert 1 <= sandbox.refused()[1] <= 20


def test_the_example_campaign_fails_on_a_wrong_connection(sandbox, monkeypatch, tmp_path: Path) -> None:
    """max_failure_ratio=1.0 absorbs bad numbers, never a wrong password: the run is not green."""
    from tests.airflow_env import REPO_ROOT

    people = [f"+4479111237{i:02d}" for i in range(30)]
    clean = tmp_path / "june.clean.csv"
    clean.write_text("number,e164\n" + "".join(f"{n},{n}\n" for n in people))
    monkeypatch.setenv("AIRFLOW__SMS_API__DATA_PATH", str(tmp_path / "data"))
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_SECRET", "campaign-failure-secret-0123456789")
    break_connection(monkeypatch, sandbox, "wrong_password", tmp_path)
    conf = {"clean_list": str(clean), "message": "Our shop opens at 9", "campaign_id": "broken"}

    dr = run_dag(REPO_ROOT / "example_dags" / "sms_campaign.py", "sms_campaign", run_conf=conf)

    found = states(dr)
    assert found[("send", -1)] == "failed"
    assert found[("record_campaign", -1)] == "upstream_failed"  # no campaign recorded
    assert not (tmp_path / "data" / "campaigns" / "broken.json").exists()
    assert sandbox.ledger() == []
    assert sandbox.refused()[1] <= HANDFUL


def test_an_unexpected_import_of_sms_config_error_stays_fatal() -> None:
    from airflow_provider_sms.failures import is_fatal

    assert is_fatal(SmsApiConfigError("http://"))
