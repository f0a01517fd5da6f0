"""Verdict decisions (pure): first match wins, failed checks are ERROR, never VALID."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_sms.api.responses import parse_fraud_check
from airflow_provider_sms.api.results import FraudCheckResult, HlrResult
from airflow_provider_sms.exceptions import InvalidNumberError, ServerError, SmsApiConnectionError
from airflow_provider_sms.hygiene.options import HygieneOptions, format_age, parse_max_age
from airflow_provider_sms.hygiene.verdicts import RESULT_COLUMNS, NumberCheck, Verdict, decide

N = "+447400123456"
AT = "2024-06-01T02:00:00+00:00"


def hlr(status: str = "DELIVERED") -> HlrResult:
    return HlrResult(
        raw={}, id="1", product="insight.hlr", number=N, mccmnc="23410", network="O2", country="GB",
        status=status, created_at=None,
    )  # fmt: skip


def fraud(status: str = "PASSED", mobile: bool | None = True) -> FraudCheckResult:
    return parse_fraud_check({"status": status, "mobilePrefix": mobile})  # as the hook returns it


@pytest.mark.parametrize(
    ("hlr_outcome", "fraud_outcome", "verdict"),
    [
        (hlr(), fraud(), Verdict.VALID),
        (hlr(), fraud("FRAUDULENT"), Verdict.FRAUDULENT),
        (hlr(), fraud("FRAUDLENT"), Verdict.FRAUDULENT),  # the reference example's spelling
        (hlr(), fraud("SUSPICIOUS"), Verdict.SUSPICIOUS),
        (hlr(), fraud("NOT_MOBILE_PREFIX", False), Verdict.NOT_MOBILE),
        (hlr(), fraud("PASSED", False), Verdict.NOT_MOBILE),
        (hlr("UNDELIVERED"), fraud(), Verdict.UNREACHABLE),
        (hlr("UNKNOWN"), fraud(), Verdict.UNREACHABLE),
        # First match wins: fraud verdicts come before reachability, INVALID before all.
        (hlr("UNDELIVERED"), fraud("FRAUDULENT"), Verdict.FRAUDULENT),
        (hlr("UNDELIVERED"), fraud("SUSPICIOUS"), Verdict.SUSPICIOUS),
        (hlr("UNDELIVERED"), fraud("NOT_MOBILE_PREFIX", False), Verdict.NOT_MOBILE),
        (InvalidNumberError("errorCode 11"), None, Verdict.INVALID),
        (hlr(), InvalidNumberError("errorCode 11"), Verdict.INVALID),
        # A fraud verdict stands even when the look-up failed: nothing before it can apply.
        (ServerError("HTTP 500"), fraud("FRAUDULENT"), Verdict.FRAUDULENT),
        (ServerError("HTTP 500"), None, Verdict.ERROR),
        (ServerError("HTTP 500"), fraud(), Verdict.ERROR),
        (hlr(), SmsApiConnectionError("timeout"), Verdict.ERROR),
        (hlr("UNDELIVERED"), SmsApiConnectionError("timeout"), Verdict.ERROR),
        (hlr(), fraud("SOMETHING_NEW"), Verdict.ERROR),
        (hlr(), None, Verdict.ERROR),
        (None, None, Verdict.ERROR),
        (hlr("UNDELIVERED"), None, Verdict.UNREACHABLE),  # fraud check skipped on purpose
    ],
)
def test_decide(hlr_outcome, fraud_outcome, verdict: Verdict) -> None:
    check = decide(N, hlr_outcome, fraud_outcome, checked_at=AT)

    assert check.verdict is verdict
    assert check.e164 == N
    assert check.checked_at == AT
    assert bool(check.error) == (verdict in (Verdict.ERROR, Verdict.INVALID))


def test_error_reason_names_the_failed_check_on_one_line() -> None:
    check = decide(N, hlr(), SmsApiConnectionError("no answer\nfrom host"), checked_at=AT)

    assert check.error == "fraud check failed: SmsApiConnectionError: no answer from host"
    assert (check.hlr_status, check.mccmnc, check.network) == ("DELIVERED", "23410", "O2")


def test_output_fields_follow_the_result_columns() -> None:
    check = decide(N, hlr("UNDELIVERED"), fraud(), checked_at=AT)

    fields = dict(zip(RESULT_COLUMNS, check.output_fields(duplicate=True), strict=True))

    assert fields == {
        "e164": N, "verdict": "UNREACHABLE", "hlr_status": "UNDELIVERED", "mccmnc": "23410", "network": "O2",
        "country": "GB", "fraud_status": "PASSED", "duplicate": "true", "error": "", "checked_at": AT,
    }  # fmt: skip
    assert check.reason == "HLR status UNDELIVERED"


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        (NumberCheck(N, Verdict.FRAUDULENT, fraud_status="FRAUDULENT"), "fraud check: FRAUDULENT"),
        (
            NumberCheck(N, Verdict.NOT_MOBILE, fraud_status="NOT_MOBILE_PREFIX"),
            "not a mobile number (fraud check: NOT_MOBILE_PREFIX)",
        ),
        (NumberCheck(N, Verdict.UNCHECKED, error="not checked: budget"), "not checked: budget"),
    ],
)  # fmt: skip
def test_reason(check: NumberCheck, reason: str) -> None:
    assert check.reason == reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        (" 30m ", timedelta(minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("2w", timedelta(weeks=2)),
        ("1.5d", timedelta(hours=36)),
        (3600, timedelta(hours=1)),
        (timedelta(days=1), timedelta(days=1)),
        (None, None),
    ],
)
def test_parse_max_age(value, expected) -> None:
    assert parse_max_age(value) == expected


@pytest.mark.parametrize("value", ["7 days", "d7", "", "-1h", 0, True])
def test_parse_max_age_refuses(value) -> None:
    with pytest.raises(ValueError, match="max_age"):
        parse_max_age(value)


@pytest.mark.parametrize(
    ("age", "text"),
    [
        (timedelta(days=7), "1w"),
        (timedelta(days=3), "3d"),
        (timedelta(hours=36), "36h"),
        (timedelta(seconds=90), "90s"),
        (None, "any age"),
    ],
)
def test_format_age(age, text: str) -> None:
    assert format_age(age) == text


def test_options_validate_and_parse() -> None:
    assert HygieneOptions(max_age="1d").reuse_max_age == timedelta(days=1)
    with pytest.raises(ValueError, match="max_api_calls"):
        HygieneOptions(max_api_calls=-1)
    with pytest.raises(ValueError, match="workers"):
        HygieneOptions(workers=0)
