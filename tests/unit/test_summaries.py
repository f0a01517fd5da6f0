"""Run summaries: what the extras hold (counts and receipt keys, never numbers) and the outlets."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from airflow.sdk import Asset

from airflow_provider_sms import summaries
from airflow_provider_sms.operators.hygiene import NumberHygieneOperator
from airflow_provider_sms.operators.insight import HlrLookupOperator
from airflow_provider_sms.operators.sms import SendSmsOperator, build_report
from airflow_provider_sms.summaries import (
    HYGIENE_SUMMARIES,
    MAX_RECEIPT_KEYS,
    SMS_SUMMARIES,
    USAGE_SUMMARIES,
    publish_summary,
    receipt_key,
    sms_summary,
    usage_summary,
)


def report_of(n: int, already: int = 0) -> dict:
    report = build_report([], {})
    report["sent"] = {f"req-{i}": f"+4479111{i:05d}" for i in range(n)}
    report["counts"] = {"numbers": n, "sent": n, "already_sent": already, "failed": 0, "unknown": 0}
    return report


def test_receipt_key_is_a_short_digest_not_the_id():
    assert receipt_key("abc") == hashlib.sha256(b"abc").hexdigest()[:12]


def test_sms_summary_pays_for_this_try_only_and_keys_every_request():
    summary = sms_summary(report_of(3, already=1))
    assert summary["paid"] == {"sms": 2}
    assert summary["sent"] == 3
    assert summary["receipt_keys"] == sorted(receipt_key(f"req-{i}") for i in range(3))
    assert "+4479111" not in str(summary)


def test_a_large_send_keeps_counts_only():
    summary = sms_summary(report_of(MAX_RECEIPT_KEYS + 1))
    assert "receipt_keys" not in summary
    assert summary["paid"] == {"sms": MAX_RECEIPT_KEYS + 1}


def test_hygiene_summary_splits_look_ups_from_fraud_checks():
    result = {"rows": 5, "api_calls": 7, "checked_numbers": 4, "calls_saved": 3, "verdicts": {"VALID": 3}}
    summary = summaries.hygiene_summary(result)
    assert summary["paid"] == {"hlr": 4, "fraud_check": 3}
    assert summary["verdicts"] == {"VALID": 3}


def test_usage_summary_refuses_an_unknown_kind():
    assert usage_summary("calls", 0)["paid"] == {}
    with pytest.raises(ValueError, match="kind must be one of"):
        usage_summary("fax")


def test_operators_add_their_summary_asset_after_the_users_outlets():
    mine = Asset("s3://bucket/mine")
    send = SendSmsOperator(task_id="send", numbers="+447911123411", text="hi", outlets=[mine])
    hygiene = NumberHygieneOperator(task_id="h", input_path="in.csv", output_path="out.csv", clean_asset=mine)
    lookup = HlrLookupOperator(task_id="hlr", number="+447911123411")
    assert send.outlets == [mine, SMS_SUMMARIES]
    assert hygiene.outlets == [mine, HYGIENE_SUMMARIES]
    assert lookup.outlets == [USAGE_SUMMARIES]


def test_publish_adds_the_start_time_and_never_fails_the_task():
    class Events:  # keyed by URI: an Asset is not hashable on Airflow 3.1
        def __init__(self) -> None:
            self.by_uri: dict[str, SimpleNamespace] = {}

        def __getitem__(self, asset):
            return self.by_uri.setdefault(asset.uri, SimpleNamespace(extra=None))

    events = Events()
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    context = {"outlet_events": events, "ti": SimpleNamespace(start_date=started)}
    publish_summary(context, SMS_SUMMARIES, {"a": 1})
    assert events[SMS_SUMMARIES].extra == {"a": 1, "started_at": "2026-01-02T03:04:05+00:00"}
    publish_summary({}, SMS_SUMMARIES, {"a": 1})  # no outlet_events: logged, not raised
