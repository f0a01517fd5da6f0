"""Notifiers without the network: templating, payload, aliases, failure reporting."""

from __future__ import annotations

import pytest
from airflow.sdk import BaseNotifier

from airflow_provider_sms.compat import AirflowException
from airflow_provider_sms.exceptions import InvalidNumberError
from airflow_provider_sms.notifications import (
    SmsNotifier,
    VoiceCallNotifier,
    send_sms_notification,
    send_voice_notification,
)
from airflow_provider_sms.notifications.base import recipients, report


def test_aliases_and_base_class() -> None:
    assert send_sms_notification is SmsNotifier
    assert send_voice_notification is VoiceCallNotifier
    assert issubclass(SmsNotifier, BaseNotifier)
    assert SmsNotifier.template_fields == ("numbers", "text", "sender", "sms_api_conn_id")
    assert VoiceCallNotifier.template_fields == ("numbers", "text", "language", "sender", "sms_api_conn_id")


def test_one_payload_builder_per_notifier() -> None:
    sms = SmsNotifier(numbers="+44 7911 123456, +447911123457,+447911123456", text="down")
    assert [sms.request(number).body for number in recipients(sms.numbers)] == [
        {"number": "+447911123456", "text": "down"},
        {"number": "+447911123457", "text": "down"},
    ]
    voice = VoiceCallNotifier(numbers=["+447911123456"], text="down", language="ru", sender="+15005550006")
    assert [voice.request(number).body for number in recipients(voice.numbers)] == [
        {"number": "+447911123456", "text": "down", "language": "ru", "from": "+15005550006"}
    ]
    assert voice.sms_api_conn_id == "sms_api_default"


def test_templates_render_from_the_callback_context() -> None:
    notifier = SmsNotifier(
        numbers="{{ params.oncall }}", text="{{ ti_id }} failed", sender="{{ params.sender }}"
    )
    context = {"params": {"oncall": "+447911123456", "sender": "Alerts"}, "ti_id": "load"}

    notifier.render_template_fields(context)

    assert (notifier.rendered("numbers"), notifier.text, notifier.sender) == (
        "+447911123456",
        "load failed",
        "Alerts",
    )
    assert notifier.numbers == "+4479******56"  # what the rendered attribute shows

    # A second callback renders again from the template, not from the masked value.
    notifier.render_template_fields({**context, "params": {"oncall": "+447911123400", "sender": "A"}})
    assert notifier.rendered("numbers") == "+447911123400"


def test_template_env_without_a_real_dag() -> None:
    notifier = SmsNotifier(numbers="+447911123456", text="x")
    assert notifier.get_template_env(dag=object()) is not None  # a serialized DAG cannot make one
    assert notifier.get_template_env() is not None


def test_impossible_number_fails_before_anything_is_sent() -> None:
    with pytest.raises(InvalidNumberError):
        recipients(["+447911123456", "+4479"])
    with pytest.raises(AirflowException, match="no recipients"):
        recipients([])


def test_report_names_masked_failures(capfd) -> None:
    notifier = SmsNotifier(numbers="+447911123456", text="x")
    report(notifier, "SMS", [("+447911123456", None)], reveal=False)
    with pytest.raises(AirflowException, match=r"1 recipient\(s\): \+4479\*+57$"):
        report(notifier, "SMS", [("+447911123456", None), ("+447911123457", ValueError("no"))], reveal=False)
    assert "+447911123457" not in capfd.readouterr().out
