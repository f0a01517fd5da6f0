"""Operators, sensor and callbacks without the network: argument handling and decisions."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_sms import config
from airflow_provider_sms.api import verification as v
from airflow_provider_sms.compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from airflow_provider_sms.exceptions import SmsApiConfigError
from airflow_provider_sms.operators.calls import (
    FlashCallOperator,
    IncomingCallVerificationOperator,
    PinToSpeechCallOperator,
    TextToSpeechCallOperator,
)
from airflow_provider_sms.operators.insight import FraudCheckOperator, HlrLookupOperator
from airflow_provider_sms.operators.sms import SendSmsOperator
from airflow_provider_sms.sending import callbacks
from airflow_provider_sms.sending.journal import Outcome, SendResult
from airflow_provider_sms.sending.report import build_report
from airflow_provider_sms.sensors.incoming_call import IncomingCallSensor
from airflow_provider_sms.triggers.incoming_call import IncomingCallTrigger

A, B = "+447911123456", "+447911123457"


def test_report_shape() -> None:
    results = [
        SendResult(Outcome.SENT, A, "r1"),
        SendResult(Outcome.ALREADY_SENT, B, "r0"),
        SendResult(Outcome.FAILED, "+447911123458", error="The API refused ...", exception=ValueError()),
        SendResult(Outcome.UNKNOWN, "+447911123459", error="lost"),
        SendResult(Outcome.ELSEWHERE, "+447911123450", error="map index 2 sends it"),
    ]
    counts = {"numbers": 6, "sent": 2, "already_sent": 1, "failed": 2, "unknown": 1, "elsewhere": 1}
    report = build_report(results, {"+4479": "too short"})
    assert report == {
        "sent": {"r1": "+4479******56", "r0": "+4479******57"},
        "failed": [
            {"number": "+****", "reason": "too short"},
            {"number": "+4479******58", "reason": "The API refused ..."},
        ],
        "unknown": ["+4479******59"],
        "elsewhere": ["+4479******50"],
        "already_sent": 1,
        "full_numbers": False,
        "counts": counts,
    }
    full = build_report(results, {"+4479": "too short"}, full_numbers=True)
    assert full["sent"] == {"r1": A, "r0": B}
    assert [f["number"] for f in full["failed"]] == ["+4479", "+447911123458"]
    assert (full["unknown"], full["elsewhere"], full["counts"]) == (
        ["+447911123459"],
        ["+447911123450"],
        counts,
    )


def test_send_sms_arguments() -> None:
    op = SendSmsOperator(task_id="t", numbers=[A], text="hi")
    assert set(op.template_fields) == {
        "numbers",
        "text",
        "sender",
        "callback_url",
        "numbers_file",
        "journal_path",
        "sms_api_conn_id",
        "message_template",
        "suppression_list",
        "send_deadline",
    }
    with pytest.raises(ValueError, match="max_failure_ratio"):
        SendSmsOperator(task_id="t2", numbers=[A], text="hi", max_failure_ratio=1.5)
    with pytest.raises(ValueError, match="max_workers"):
        SendSmsOperator(task_id="t3", numbers=[A], text="hi", max_workers=0)
    with pytest.raises(ValueError, match="exactly one of text and message_template"):
        SendSmsOperator(task_id="t4", numbers_file="a.csv", text="hi", message_template="Hi {name}")
    with pytest.raises(ValueError, match="exactly one of text and message_template"):
        SendSmsOperator(task_id="t5", numbers=[A])
    with pytest.raises(ValueError, match="needs numbers_file"):
        SendSmsOperator(task_id="t6", message_template="Hi {name}")
    with pytest.raises(ValueError, match="not numbers"):
        SendSmsOperator(task_id="t7", numbers=[A], numbers_file="a.csv", message_template="Hi {name}")
    with pytest.raises(ValueError, match="max_segments"):
        SendSmsOperator(task_id="t8", numbers=[A], text="hi", max_segments=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda conn: SendSmsOperator(task_id="t", numbers=[A], text="hi", sms_api_conn_id=conn),
        lambda conn: FlashCallOperator(task_id="t", number=A, sms_api_conn_id=conn),
        lambda conn: PinToSpeechCallOperator(task_id="t", number=A, code="1234", sms_api_conn_id=conn),
        lambda conn: TextToSpeechCallOperator(task_id="t", number=A, text="hi", sms_api_conn_id=conn),
        lambda conn: IncomingCallVerificationOperator(task_id="t", number=A, sms_api_conn_id=conn),
        lambda conn: HlrLookupOperator(task_id="t", number=A, sms_api_conn_id=conn),
        lambda conn: FraudCheckOperator(task_id="t", number=A, sms_api_conn_id=conn),
        lambda conn: IncomingCallSensor(task_id="t", request_id="r", sms_api_conn_id=conn),
    ],
)
def test_the_connection_id_can_come_from_a_param(make: Any) -> None:
    """A DAG can pick its connection with a Param (``{{ params.conn_id }}``), as the examples do."""
    op = make("{{ params.conn_id }}")
    op.render_template_fields({"params": {"conn_id": "sms_api_eu"}})
    assert op.sms_api_conn_id == "sms_api_eu"
    assert op.hook.sms_api_conn_id == "sms_api_eu"


def test_template_fields_of_the_other_operators() -> None:
    assert "language" in TextToSpeechCallOperator.template_fields
    assert "code" in PinToSpeechCallOperator.template_fields
    assert "code" in FlashCallOperator.template_fields
    assert "ivr_message" in IncomingCallVerificationOperator.template_fields
    assert IncomingCallSensor.template_fields == ("request_id", "sms_api_conn_id")


def test_lookup_takes_number_or_numbers() -> None:
    HlrLookupOperator(task_id="one", number=A)
    FraudCheckOperator(task_id="few", numbers=[A, B])
    with pytest.raises(ValueError, match="either number= or numbers="):
        HlrLookupOperator(task_id="both", number=A, numbers=[B])
    with pytest.raises(ValueError, match="either number= or numbers="):
        FraudCheckOperator(task_id="neither")


def test_lookup_reports_every_failed_number_even_when_masks_collide() -> None:
    from airflow_provider_sms.exceptions import InvalidNumberError

    class Refusing:
        settings = SimpleNamespace(log_full_numbers=False, rate_limit=30)

        def run(self, request: Any) -> Any:  # every look-up is refused
            raise InvalidNumberError("refused")

    # Both mask to +4479******11; the duplicate is one number.
    op = HlrLookupOperator(task_id="few", numbers=["+447911123411", "+447922223411", "+447911123411"])
    op.__dict__["hook"] = Refusing()

    with pytest.raises(AirflowException, match=r"failed for 2 number\(s\)"):
        op.execute({})


def test_incoming_reservation_reuse_window() -> None:
    from airflow_provider_sms.sending.journal import EntryStatus, JournalEntry

    op = IncomingCallVerificationOperator(task_id="r", number=A)

    def entry(expires_at: str | None) -> JournalEntry:
        result = {"request_id": "x", "did_number": "1", "expires_at": expires_at}
        return JournalEntry("k", EntryStatus.SENT, A, "incoming_call", "", result=result)

    assert op.still_valid(entry("2999-01-01T00:00:00+00:00"))
    assert not op.still_valid(entry(datetime.now(timezone.utc).isoformat()))
    assert not op.still_valid(entry(None))
    assert not op.still_valid(entry("not a date"))


# --- callbacks ----------------------------------------------------------------------------


def test_receipt_url_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_BASE_URL", "https://airflow.example.com/")
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_SECRET", " a_long-random-Secret9 ")

    assert callbacks.receipt_url() == (
        "https://airflow.example.com/sms-api/webhooks/a_long-random-Secret9/delivery-receipts"
    )
    assert callbacks.inbound_sms_url().endswith("/inbound-sms")
    assert callbacks.resolve_callback_url(" Airflow ") == callbacks.receipt_url()
    assert callbacks.resolve_callback_url("https://mine.example.com/cb") == "https://mine.example.com/cb"
    assert callbacks.resolve_callback_url(None) is None


def test_operators_fail_at_once_without_webhook_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """No retry can fix the Airflow configuration: the task fails without retrying."""
    from airflow_provider_sms.compat import AirflowFailException

    monkeypatch.delenv("AIRFLOW__SMS_API__WEBHOOK_BASE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW__SMS_API__WEBHOOK_SECRET", raising=False)
    with pytest.raises(AirflowFailException, match="webhook_base_url"):
        callbacks.resolve_callback_url_or_fail("airflow")
    assert (
        callbacks.resolve_callback_url_or_fail("https://mine.example.com/cb") == "https://mine.example.com/cb"
    )


def test_receipt_url_needs_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__SMS_API__WEBHOOK_BASE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW__SMS_API__WEBHOOK_SECRET", raising=False)
    with pytest.raises(
        SmsApiConfigError, match=r"\[sms_api\] webhook_base_url and \[sms_api\] webhook_secret"
    ):
        callbacks.receipt_url()
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_BASE_URL", "https://airflow.example.com")
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_SECRET", "short")
    with pytest.raises(SmsApiConfigError, match="shorter than 16"):
        callbacks.receipt_url()
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_SECRET", "long-enough-secret-1234")
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_BASE_URL", "airflow.example.com")
    with pytest.raises(SmsApiConfigError, match="absolute URL"):
        callbacks.receipt_url()


@pytest.mark.parametrize(
    "secret",
    [
        "a/long-random-secret",  # openssl rand -base64: "/" became %2F, and every receipt a 404
        "abc+defghijklmnopq==",
        "with spaces 0123456789",
        "caf\u00e9-0123456789abcdef",
        "percent%2Fencoded-0123",
    ],
)
def test_a_secret_outside_the_url_safe_alphabet_fails_the_task_at_once(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    """The receiver refuses it too (same check): no receipt would ever arrive."""
    from airflow_provider_sms.compat import AirflowFailException

    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_BASE_URL", "https://airflow.example.com")
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_SECRET", secret)
    with pytest.raises(
        AirflowFailException, match=r"characters other than A-Z, a-z, 0-9, '_' and '-'"
    ) as caught:
        callbacks.resolve_callback_url_or_fail("airflow")
    assert secret not in str(caught.value)
    assert "token_urlsafe" in str(caught.value)


@pytest.mark.parametrize(
    ("secret", "reason"),
    [("", "is not set"), ("x" * 15, "shorter than 16"), ("x/" * 10, "characters other than")],
)
def test_check_webhook_secret_says_why(secret: str, reason: str) -> None:
    with pytest.raises(SmsApiConfigError, match=reason):
        config.check_webhook_secret(secret)
    config.check_webhook_secret("x" * 16)
    config.check_webhook_secret("Az09_-" * 6)


# --- sensor -------------------------------------------------------------------------------


class FakeHook:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def get_incoming_call(self, request_id: str) -> Any:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def sensor(answer: Any = None, **kwargs: Any) -> IncomingCallSensor:
    s = IncomingCallSensor(task_id="wait", request_id="abc", poke_interval=1, timeout=30, **kwargs)
    s.__dict__["hook"] = FakeHook(answer)
    return s


def pending() -> Any:
    from airflow_provider_sms.api.endpoints import get_incoming_call
    from airflow_provider_sms.api.responses import parse_response

    return parse_response(get_incoming_call("abc"), 200, '{"status": "PENDING", "didNumber": "1"}')


def test_deferrable_sensor_pokes_once_then_defers() -> None:
    with pytest.raises(TaskDeferred) as deferred:
        sensor(pending(), deferrable=True).execute({})

    trigger = deferred.value.trigger
    assert isinstance(trigger, IncomingCallTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["request_id"] == "abc"
    assert kwargs["poke_interval"] == 1.0
    assert v.parse_deadline(kwargs["timeout_at"]) > datetime.now(timezone.utc)
    assert deferred.value.method_name == "execute_complete"


def test_transient_error_in_a_poke_is_not_the_end() -> None:
    from airflow_provider_sms.exceptions import ServerError

    assert sensor(ServerError("503")).poke({}) is False


def test_untrusted_certificate_in_a_poke_ends_the_wait() -> None:
    from airflow_provider_sms.exceptions import TlsVerificationError

    with pytest.raises(AirflowFailException, match="no retry can fix") as failure:  # no Airflow retry
        sensor(TlsVerificationError("certificate verify failed")).poke({})
    assert isinstance(failure.value.__cause__, TlsVerificationError)


@pytest.mark.parametrize(
    ("event", "soft_fail", "raised"),
    [
        ({"status": "expired", "message": "gone"}, False, AirflowFailException),
        ({"status": "not_found", "message": "gone"}, False, AirflowFailException),
        ({"status": "timeout", "message": "late"}, False, AirflowSensorTimeout),
        ({"status": "error", "message": "bad key"}, False, AirflowException),
        ({"status": "expired", "message": "gone"}, True, AirflowSkipException),
        ({"status": "timeout", "message": "late"}, True, AirflowSkipException),
        ({"status": "error", "message": "bad key"}, True, AirflowException),
    ],
)
def test_execute_complete(event: dict[str, Any], soft_fail: bool, raised: type[Exception]) -> None:
    with pytest.raises(raised, match=event["message"]) as exc_info:
        sensor(soft_fail=soft_fail).execute_complete({}, event)
    assert exc_info.type is raised  # not a subclass (a skip is an AirflowException too)


def test_execute_complete_returns_the_call_info() -> None:
    info = {"status": "DELIVERED", "request_id": "abc"}
    assert sensor().execute_complete({}, {"status": "delivered", "info": info, "message": "ok"}) == info
