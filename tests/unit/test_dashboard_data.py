"""The page's aggregation and rendering: counts per day, run and status from literal events."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS
from airflow_provider_sms.plugins.dashboard_charts import Series, bar_chart, line_chart, nice_max
from airflow_provider_sms.plugins.dashboard_data import Event, Sources, Window, build_dashboard
from airflow_provider_sms.plugins.dashboard_rollup import aggregate
from airflow_provider_sms.plugins.dashboard_view import render
from airflow_provider_sms.summaries import HYGIENE_SUMMARIES, SMS_SUMMARIES, USAGE_SUMMARIES, receipt_key

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
WINDOW = Window.last_days(7, NOW)
DAY = timedelta(days=1)


def at(days_ago: int, minutes: int = 0) -> datetime:
    return NOW - days_ago * DAY + timedelta(minutes=minutes)


def events() -> Sources:
    hygiene = [
        Event(
            at(2),
            {
                "verdicts": {"VALID": 8, "INVALID": 1, "FRAUDULENT": 1, "ERROR": 2},
                "paid": {"hlr": 9, "fraud_check": 8},
            },
            "nightly",
            "hygiene",
            "r1",
            -1,
        ),
        Event(
            at(1), {"verdicts": {"VALID": 6}, "calls_saved": 12, "paid": {}}, "nightly", "hygiene", "r2", -1
        ),
    ]
    sms = [
        Event(
            at(1),
            {"receipt_keys": sorted(receipt_key(r) for r in ("a", "b", "c", "d", "e")), "paid": {"sms": 5}},
            "campaign",
            "send",
            "c1",
            -1,
        ),
        Event(at(1), {"paid": {"sms": 2000}, "sent": 2000}, "campaign", "send", "c2", 0),  # too big for keys
    ]
    usage = [Event(at(0), {"paid": {"calls": 1}}, "verify", "flash", "v1", -1)]
    receipts = [
        Event(at(1, 1), {"requestId": "a", "status": "SENT", "number": "+447911123401"}),
        Event(at(1, 2), {"requestId": "a", "status": "DELIVERED"}),
        Event(at(1, 3), {"requestId": "a", "status": "SENT"}),  # late SENT: stays DELIVERED
        Event(at(1, 1), {"requestId": "b", "status": "UNDELIVERED"}),
        Event(at(0, 1), {"requestId": "c", "status": "REJECTED"}),
        Event(at(0, 1), {"requestId": "d", "status": "SENT"}),
        Event(at(0, 2), {"requestId": "x", "status": "ANSWERED", "sipStatus": 200}),  # a call's receipt
        Event(at(9), {"requestId": "old", "status": "DELIVERED"}),  # before the window
    ]
    inbound = [
        Event(at(0), {"text": " Stop! ", "from": "447911123402"}),
        Event(at(0), {"text": "Thanks, see you there", "from": "447911123401"}),
        Event(at(3), {"text": "unsubscribe"}),
    ]
    summaries = {HYGIENE_SUMMARIES.name: hygiene, SMS_SUMMARIES.name: sms, USAGE_SUMMARIES.name: usage}
    stored = [(DELIVERY_RECEIPTS.name, e.timestamp, e.extra) for e in receipts]
    stored += [(INBOUND_SMS.name, e.timestamp, e.extra) for e in inbound]
    # What the webhook store's tables hold once these events are stored (dashboard_rollup).
    totals = aggregate(sorted(stored, key=lambda event: event[1]))
    statuses = {key: status for key, (status, _) in totals.statuses.items()}
    return Sources(summaries=summaries, counts=totals.counts, statuses=statuses)


def test_window_is_whole_utc_days_and_bounded():
    assert (WINDOW.first.isoformat(), WINDOW.last.isoformat()) == ("2026-03-04", "2026-03-10")
    assert WINDOW.since == datetime(2026, 3, 4, tzinfo=timezone.utc)
    assert len(WINDOW.days) == 7
    with pytest.raises(ValueError, match="between 1 and 366"):
        Window.last_days(0)


def test_hygiene_runs_verdicts_bad_share_paid_and_saved():
    [task] = build_dashboard(events(), WINDOW)["hygiene"]["tasks"]
    assert task["task"] == "nightly.hygiene"
    first, second = task["runs"]
    assert first["bad_share"] == 0.2  # 2 bad of 10 judged; ERROR rows were not judged
    assert (first["paid"], second["paid"], second["saved"]) == (17, 0, 12)
    assert second["bad_share"] == 0.0


def test_receipts_per_day_rate_and_funnel_from_receipt_keys():
    delivery = build_dashboard(events(), WINDOW)["delivery"]
    by_day = {d["day"]: d for d in delivery["days"]}
    assert by_day["2026-03-09"]["statuses"] == {"SENT": 2, "DELIVERED": 1, "UNDELIVERED": 1, "REJECTED": 0}
    assert by_day["2026-03-09"]["rate"] == 0.5
    assert by_day["2026-03-10"]["rate"] == 0.0
    assert by_day["2026-03-08"]["rate"] is None
    assert delivery["receipts"] == 6  # the call's receipt and the old one are not counted
    assert delivery["call_receipts"] == 1
    [funnel] = delivery["funnels"]
    keys = ("sent", "delivered", "undelivered", "rejected", "pending", "no_receipt")
    assert {k: funnel[k] for k in keys} == {
        "sent": 5, "delivered": 1, "undelivered": 1, "rejected": 1, "pending": 1, "no_receipt": 1,
    }  # fmt: skip
    assert delivery["runs_without_funnel"] == 1


def test_inbound_opt_outs_and_spend_per_kind():
    data = build_dashboard(events(), WINDOW)
    assert (data["inbound"]["messages"], data["inbound"]["opt_outs"]) == (3, 2)
    assert data["spend"]["totals"] == {"sms": 2005, "hlr": 9, "fraud_check": 8, "calls": 1}
    assert data["empty"] is False


def test_the_page_shows_counts_never_numbers_or_texts():
    html = render(build_dashboard(events(), WINDOW))
    for secret in ("447911123401", "447911123402", "Stop!", "Thanks, see you there"):
        assert secret not in html
    kinds = set(re.findall(r'data-chart="([a-z-]+)"', html))
    expected = {
        "hygiene-verdicts",
        "hygiene-bad-share",
        "hygiene-calls",
        "receipts",
        "delivery-rate",
        "funnel",
    }
    assert kinds == expected | {"inbound", "spend"}
    mark = 'data-series="Delivered" data-label="03-09 12:00  campaign.send  (5 sent)" data-value="1" '
    mark += 'data-key="c1"'
    assert mark in html


def test_no_events_is_the_empty_state_with_what_to_run():
    html = render(build_dashboard(Sources(), WINDOW))
    assert 'data-section="empty"' in html
    assert "./run.sh demo --keep-home" in html


def test_labels_are_escaped():
    chart = bar_chart("t", ["<b>"], [Series("<script>", "c-good", [1])])
    assert "<script>" not in chart
    assert "&lt;script&gt;" in chart


def test_line_gaps_and_scales():
    chart = line_chart("t", ["a", "b", "c"], [Series("s", "c-good", [0.1, None, 0.15])])
    assert chart.count("<circle") == 2
    assert "<polyline" not in chart
    assert 'data-value="0.15"' in chart
    assert [nice_max(v) for v in (0, 0.15, 3, 11, 4999)] == [1.0, 0.2, 5.0, 20.0, 5000.0]
