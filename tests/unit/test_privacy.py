"""What the provider's operators leave in their attributes once rendered (Airflow stores them)."""

from __future__ import annotations

import pytest

from airflow_provider_sms.operators.calls import (
    FlashCallOperator,
    PinToSpeechCallOperator,
    TextToSpeechCallOperator,
)
from airflow_provider_sms.operators.insight import HlrLookupOperator
from airflow_provider_sms.operators.sms import SendSmsOperator
from airflow_provider_sms.privacy import HIDDEN, MAX_SHOWN_NUMBERS, mask_caller_id, masked_numbers

A, B = "+447911123456", "+447911123457"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, None),
        ("", ""),
        (A, "+4479******56"),
        (f"{A}, {B}", "+4479******56, +4479******57"),
        ([A, B], ["+4479******56", "+4479******57"]),
        ((A,), ["+4479******56"]),
        ("+4479", "+****"),
        ({"not": "numbers"}, HIDDEN),
    ],
)
def test_masked_numbers(value: object, shown: object) -> None:
    assert masked_numbers(value) == shown


def test_a_long_list_is_cut_short() -> None:
    numbers = [f"+4479111{i:05d}" for i in range(100_000)]
    shown = masked_numbers(numbers)
    assert isinstance(shown, list)
    assert len(shown) == MAX_SHOWN_NUMBERS + 1
    assert shown[-1] == f"... and {100_000 - MAX_SHOWN_NUMBERS:,} more"
    assert not any(number in str(shown) for number in numbers[:MAX_SHOWN_NUMBERS])


def test_mask_caller_id_hides_every_digit_a_code_can_be() -> None:
    assert mask_caller_id("37282329823") == "37282******"
    assert mask_caller_id("1234") == "****"
    assert mask_caller_id(None) is None


def render(operator: object, context: dict) -> None:
    operator.render_template_fields(context)  # type: ignore[attr-defined]


def test_operators_keep_rendered_values_private(monkeypatch: pytest.MonkeyPatch) -> None:
    masked_secrets: list[str] = []
    monkeypatch.setattr("airflow_provider_sms.privacy.mask_secret", masked_secrets.append)
    context = {"params": {"to": [A, B], "code": "482193", "one": A}}
    sms = SendSmsOperator(
        task_id="sms", numbers="{{ params.to }}", text="Code {{ params.code }}", text_is_secret=True
    )
    flash = FlashCallOperator(task_id="flash", number="{{ params.one }}", code="{{ params.code }}")
    pin = PinToSpeechCallOperator(task_id="pin", number=A, code="{{ params.code }}")
    speak = TextToSpeechCallOperator(task_id="speak", number=A, text="Your code is {{ params.code }}")
    hlr = HlrLookupOperator(task_id="hlr", numbers=[A, B])

    for operator in (sms, flash, pin, speak, hlr):
        render(operator, context)

    assert (sms.numbers, sms.text) == ("+4479******56, +4479******57", HIDDEN)  # a list rendered as text
    assert sms.rendered("numbers") == str([A, B])
    assert sms.rendered("text") == "Code 482193"
    assert (flash.number, flash.code, flash.rendered("code")) == ("+4479******56", HIDDEN, "482193")
    assert (pin.code, pin.rendered("code")) == (HIDDEN, "482193")
    assert (speak.text, speak.rendered("text")) == (HIDDEN, "Your code is 482193")
    assert hlr.numbers == ["+4479******56", "+4479******57"]
    assert masked_secrets == ["Code 482193", "482193", "482193", "Your code is 482193"]


def test_a_shown_text_stays_shown_and_full_numbers_follow_log_full_numbers(monkeypatch) -> None:
    monkeypatch.setattr("airflow_provider_sms.privacy.mask_secret", lambda value: None)
    sms = SendSmsOperator(task_id="sms", numbers=[A], text="Hello")
    monkeypatch.setattr(SendSmsOperator, "reveal_numbers", lambda self: True)
    speak = TextToSpeechCallOperator(task_id="speak", number=A, text="Hello", text_is_secret=False)

    render(sms, {})
    render(speak, {})

    assert (sms.numbers, sms.text) == ([A], "Hello")
    assert speak.text == "Hello"
