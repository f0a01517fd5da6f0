"""Reading answers within bounds (``api/answers.py``): odd JSON never escapes as a bare Python
exception, and ``Retry-After`` in both of its forms."""

from __future__ import annotations

import email.utils

import pytest

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api.answers import (
    MAX_ANSWER_DEPTH,
    UnreadableJson,
    loads_answer,
    retry_after_seconds,
)
from airflow_provider_sms.api.responses import decode_json_object, parse_response, shown_location
from airflow_provider_sms.exceptions import RateLimitError, ServerError

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),  # a bare RecursionError before
        (b"[" * (MAX_ANSWER_DEPTH + 1) + b"]" * (MAX_ANSWER_DEPTH + 1), "more than 32 levels"),
        (b'{"a": 1' + b"0" * 5000 + b"}", "more than 4300 digits"),
        (b'{"a": -1' + b"0" * 5000 + b"}", "more than 4300 digits"),
        (b'{"a": 1e999}', "out of range"),
        (b'{"a": -1e999}', "out of range"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
    ],
)
def test_unreadable_json_says_why_without_the_value(body: bytes, says: str) -> None:
    with pytest.raises(UnreadableJson, match=says) as info:
        loads_answer(body)
    assert "0000" not in str(info.value)
    with pytest.raises(ServerError, match=f"The API answered HTTP 200 with JSON holding .*{says}"):
        decode_json_object(200, body)


def test_json_within_bounds_reads_as_usual() -> None:
    nested = b"[" * MAX_ANSWER_DEPTH + b"]" * MAX_ANSWER_DEPTH
    assert loads_answer(nested) is not None
    assert loads_answer(b'{"a": 1e300, "b": 123456789012345678901234567890}')["a"] == 1e300


def test_an_error_answer_with_odd_json_still_maps_by_status() -> None:
    with pytest.raises(RateLimitError):
        parse_response(endpoints.hlr_lookup("+447911123456"), 429, b"[" * 100_000)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),  # already past
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("9" * 40, None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds


def test_a_location_is_quoted_without_credentials_query_or_long_digit_runs() -> None:
    shown = shown_location("https://user:pw@proxy.example:8443/login/447911123456?session=abc#x")
    assert shown == "'https://proxy.example:8443/login/4479******56'"
    assert shown_location(None) == "(no Location header)"
