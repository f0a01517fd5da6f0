"""What each stored event adds to the page's count tables, and the statements that add it on
each database Airflow supports (SQLite and PostgreSQL run for real in tests/sandbox; MySQL's
statement is checked as compiled)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import mysql, postgresql, sqlite

from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS
from airflow_provider_sms.plugins.dashboard_rollup import (
    DayCount,
    Tally,
    aggregate,
    count_upsert,
    status_upsert,
    tally,
)
from airflow_provider_sms.summaries import HYGIENE_SUMMARIES, receipt_key

RECEIPTS, INBOUND = DELIVERY_RECEIPTS.name, INBOUND_SMS.name
T0 = datetime(2026, 3, 9, 23, 59, tzinfo=timezone.utc)


def test_an_sms_receipt_counts_under_its_status_and_sets_its_request_s_status():
    assert tally(RECEIPTS, {"requestId": "r1", "status": "DELIVERED", "number": "+447911123456"}) == Tally(
        (("sms_receipt", "DELIVERED"),), receipt_key("r1"), "DELIVERED"
    )


def test_a_call_s_status_callback_counts_apart_and_concerns_no_send_run():
    assert tally(RECEIPTS, {"requestId": "c1", "status": "ANSWERED", "sipStatus": "200"}) == Tally(
        (("call_receipt", ""),)
    )
    assert tally(RECEIPTS, {"requestId": "c2", "status": "PENDING", "callReceivedAt": 1}).counts == (
        ("call_receipt", ""),
    )


def test_inbound_sms_count_and_opt_outs_count_twice():
    assert tally(INBOUND, {"text": "Hello"}) == Tally((("inbound", ""),))
    assert tally(INBOUND, {"text": " Stop! "}) == Tally((("inbound", ""), ("opt_out", "")))
    assert tally(INBOUND, {"text": None}) == Tally((("inbound", ""),))


def test_odd_receipts_are_counted_without_a_status_for_the_funnel_and_other_assets_not_at_all():
    assert tally(RECEIPTS, {"status": "DELIVERED"}) == Tally((("sms_receipt", "DELIVERED"),))
    assert tally(RECEIPTS, {"requestId": "r1"}) == Tally((("sms_receipt", "?"),))
    assert tally(RECEIPTS, {"requestId": "r1", "status": "X" * 80}).counts == (("sms_receipt", "X" * 50),)
    assert tally(HYGIENE_SUMMARIES.name, {"rows": 3}) is None


def test_aggregate_counts_per_utc_day_and_keeps_final_statuses():
    events = [
        (RECEIPTS, T0, {"requestId": "a", "status": "DELIVERED"}),
        (
            RECEIPTS,
            T0 + timedelta(minutes=2),
            {"requestId": "a", "status": "SENT"},
        ),  # late: a stays DELIVERED
        (RECEIPTS, T0 + timedelta(minutes=3), {"requestId": "b", "status": "SENT"}),
        (RECEIPTS, T0 + timedelta(minutes=4), {"requestId": "c", "status": "SENT"}),
        (RECEIPTS, T0 + timedelta(minutes=5), {"requestId": "c", "status": "UNDELIVERED"}),
        (INBOUND, T0.astimezone(timezone(timedelta(hours=-5))), {"text": "STOP"}),  # same instant, UTC day
        (HYGIENE_SUMMARIES.name, T0, {"rows": 1}),
    ]
    totals = aggregate(events)
    assert totals.events == 6
    assert totals.counts == [
        DayCount(date(2026, 3, 9), "inbound", "", 1),
        DayCount(date(2026, 3, 9), "opt_out", "", 1),
        DayCount(date(2026, 3, 9), "sms_receipt", "DELIVERED", 1),
        DayCount(date(2026, 3, 10), "sms_receipt", "SENT", 3),
        DayCount(date(2026, 3, 10), "sms_receipt", "UNDELIVERED", 1),
    ]
    assert {k: s for k, (s, _) in totals.statuses.items()} == {
        receipt_key("a"): "DELIVERED",
        receipt_key("b"): "SENT",
        receipt_key("c"): "UNDELIVERED",
    }


@pytest.mark.parametrize(
    ("name", "dialect", "expected"),
    [
        ("sqlite", sqlite.dialect(), "ON CONFLICT (day, kind, status) DO UPDATE SET events = "),
        ("postgresql", postgresql.dialect(), "ON CONFLICT (day, kind, status) DO UPDATE SET events = "),
        (
            "mysql",
            mysql.dialect(),
            "ON DUPLICATE KEY UPDATE events = (sms_api_daily_counts.events + VALUES(events))",
        ),
    ],
)
def test_a_count_is_added_in_one_statement_on_each_database(name, dialect, expected):
    sql = str(count_upsert(name, date(2026, 3, 9), "sms_receipt", "SENT").compile(dialect=dialect))
    assert sql.startswith("INSERT INTO sms_api_daily_counts")
    assert expected in sql


def test_mysql_keeps_a_final_status_with_a_case_per_column_in_order():
    """MySQL has no WHERE on its upsert: each column gets a CASE, updated_at before status (MySQL
    assigns left to right, and the condition reads the status as it was)."""
    sql = str(status_upsert("mysql", "k", "SENT", T0).compile(dialect=mysql.dialect()))
    update = sql.split("ON DUPLICATE KEY UPDATE", 1)[1]
    assert update.index("updated_at = CASE") < update.index("status = CASE")
    assert update.count("VALUES(status) != %s OR sms_api_receipt_status.status = %s") == 2


def test_other_databases_get_a_clear_error():
    with pytest.raises(NotImplementedError, match="SQLite, PostgreSQL or MySQL"):
        count_upsert("mssql", date(2026, 3, 9), "inbound", "")
