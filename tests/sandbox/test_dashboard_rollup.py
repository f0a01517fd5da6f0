"""The page's counts as the webhook store keeps them, on a real SQLite metadata database (as
Airflow configures it: WAL): equal to the stored events counted afresh, also under concurrent and
repeated deliveries; created and filled once on a database that already holds events; and a
save that lost the race for SQLite's write lock is run again and stored (and counted) once.

tests/sandbox/test_webhook_store_postgres.py covers the same on PostgreSQL.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_sms.assets import DELIVERY_RECEIPTS
from airflow_provider_sms.plugins import dashboard_rollup as rollup
from airflow_provider_sms.plugins.dashboard_data import Window, build_dashboard, load_sources
from airflow_provider_sms.plugins.store import MetadataEventStore
from airflow_provider_sms.plugins.store_retry import RetryPolicy
from airflow_provider_sms.summaries import receipt_key
from tests.support.databases import at_once, create_airflow_tables, session_scope, stored_events
from tests.support.traffic import a_day_of_traffic, add_summary, counted_afresh, receipt, save, table_contents

RECEIPTS = DELIVERY_RECEIPTS.name


def sqlite_engine(path: Any, busy_timeout: float = 5.0) -> sa.Engine:
    """An engine on ``path`` set up as Airflow sets up its own (WAL, foreign keys)."""
    engine = sa.create_engine(
        f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": busy_timeout}
    )

    @sa.event.listens_for(engine, "connect")
    def pragmas(dbapi_connection: Any, _: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


@pytest.fixture
def db_path(tmp_path) -> Iterator[Any]:
    path = tmp_path / "airflow.db"
    engine = sqlite_engine(path)
    create_airflow_tables(engine)
    engine.dispose()
    return path


@pytest.fixture
def engine(db_path) -> Iterator[sa.Engine]:
    engine = sqlite_engine(db_path)
    yield engine
    engine.dispose()


def test_counts_kept_by_the_store_equal_the_stored_events_counted_afresh(engine):
    store = MetadataEventStore(session_factory=session_scope(engine))
    sequences = a_day_of_traffic("c")
    stored = at_once(len(sequences), lambda i: [save(store, p) for p in sequences[i]])

    assert sum(map(sum, stored)) == sum(map(len, sequences)) - 4 - 2  # the repeats were not stored
    counts, statuses = table_contents(engine)
    assert (counts, statuses) == counted_afresh(engine)
    by_kind: dict[tuple[str, str], int] = {(c.kind, c.status): c.events for c in counts}
    assert by_kind == {
        ("sms_receipt", "SENT"): 24,
        ("sms_receipt", "DELIVERED"): 12 + 1,
        ("sms_receipt", "UNDELIVERED"): 6,
        ("sms_receipt", "REJECTED"): 6,
        ("call_receipt", ""): 1,
        ("inbound", ""): 5,
        ("opt_out", ""): 3,  # "STOP", " Stop! ", "unsubscribe" (not "don't stop")
    }
    assert statuses[receipt_key("c-10")] == "UNDELIVERED"  # its late SENT did not replace it
    assert receipt_key("c-call") not in statuses


def test_the_page_reads_its_numbers_from_the_tables_and_the_summaries(engine):
    """A send run's funnel: its receipt keys looked up in the status table."""
    store = MetadataEventStore(session_factory=session_scope(engine))
    for steps in a_day_of_traffic("p"):
        for payload in steps:
            save(store, payload)
    summary = {"kind": "sms", "paid": {"sms": 25}, "receipt_keys": [receipt_key(f"p-{i}") for i in range(25)]}
    add_summary(engine, summary)

    window = Window.last_days(7)
    with session_scope(engine)() as session:
        data = build_dashboard(load_sources(session, window), window)
    today = next(d for d in data["delivery"]["days"] if d["day"] == window.last.isoformat())
    assert today["statuses"] == {"SENT": 24, "DELIVERED": 13, "UNDELIVERED": 6, "REJECTED": 6}
    assert today["rate"] == round(13 / 25, 4)
    [funnel] = data["delivery"]["funnels"]
    keys = ("sent", "delivered", "undelivered", "rejected", "other", "pending", "no_receipt")
    # p-0 has DELIVERED twice (two numbers); p-24 was never sent: no receipt.
    assert [funnel[k] for k in keys] == [25, 12, 6, 6, 0, 0, 1]
    assert (data["inbound"]["messages"], data["inbound"]["opt_outs"]) == (5, 3)
    assert data["delivery"]["call_receipts"] == 1


def test_tables_created_on_a_database_with_events_are_filled_once(engine):
    """Upgrading: the first API-server processes to start find events and no tables."""
    store = MetadataEventStore(session_factory=session_scope(engine))
    sequences = a_day_of_traffic("b")
    for steps in sequences:
        for payload in steps:
            save(store, payload)
    with engine.begin() as connection:
        for table in rollup.TABLES:
            table.drop(connection)
    from airflow.models.asset import AssetEvent

    with engine.begin() as connection:  # an event older than the fill reaches back: not counted
        [call] = [
            i
            for i, extra in connection.execute(sa.select(AssetEvent.id, AssetEvent.extra))
            if extra.get("sipStatus")
        ]
        long_ago = datetime.now(timezone.utc) - timedelta(days=rollup.BACKFILL_DAYS + 1)
        connection.execute(sa.update(AssetEvent).where(AssetEvent.id == call).values(timestamp=long_ago))

    created = at_once(4, lambda _: rollup.ensure_tables(engine))
    assert sorted(created) == [False, False, False, True]
    expected_counts, expected_statuses = counted_afresh(engine)
    counts, statuses = table_contents(engine)
    assert counts == [c for c in expected_counts if c.kind != "call_receipt"]
    assert statuses == expected_statuses

    save(store, receipt("b-new", "SENT"))  # and counting goes on from there
    assert table_contents(engine)[1][receipt_key("b-new")] == "SENT"


def test_a_save_that_lost_the_race_for_the_write_lock_is_retried_and_stored_once(db_path, caplog):
    """Another writer holds SQLite's write lock longer than the busy timeout (0.2 s here): the
    first try fails with "database is locked", the retry stores the event, once, counted once."""
    engine = sqlite_engine(db_path, busy_timeout=0.2)
    retry = RetryPolicy(attempts=5, first_delay=0.2, max_delay=0.4, budget=5.0)
    store = MetadataEventStore(session_factory=session_scope(engine), retry=retry)
    store.ensure_schema()
    payload = receipt("locked-1", "DELIVERED")

    with holding_the_write_lock(db_path, seconds=0.5), caplog.at_level(logging.INFO):
        assert save(store, payload) is True
    assert "failed on a lock: database is locked" in caplog.text
    assert [e[2] for e in stored_events(engine, RECEIPTS)] == [payload]
    assert not save(store, payload)  # a repeat, as ever
    counts, _ = table_contents(engine)
    assert [(c.kind, c.status, c.events) for c in counts] == [("sms_receipt", "DELIVERED", 1)]
    engine.dispose()


def test_without_retries_left_the_lock_error_goes_through_and_nothing_is_written(db_path):
    engine = sqlite_engine(db_path, busy_timeout=0.1)
    store = MetadataEventStore(session_factory=session_scope(engine), retry=RetryPolicy(attempts=1))
    store.ensure_schema()
    payload = receipt("locked-2", "DELIVERED")
    with holding_the_write_lock(db_path, seconds=0.6), pytest.raises(sa.exc.OperationalError, match="locked"):
        save(store, payload)
    assert stored_events(engine, RECEIPTS) == []
    assert table_contents(engine) == ([], {})
    assert save(store, payload) is True  # the sender's retry
    engine.dispose()


class holding_the_write_lock:
    """Another connection takes SQLite's write lock (``BEGIN IMMEDIATE``) and commits after ``seconds``."""

    def __init__(self, path: Any, seconds: float) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._seconds = seconds
        self._timer: threading.Timer | None = None

    def __enter__(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")
        self._timer = threading.Timer(self._seconds, self._connection.execute, ("COMMIT",))
        self._timer.start()

    def __exit__(self, *exc: object) -> None:
        assert self._timer is not None
        self._timer.join()
        self._connection.close()


def test_events_in_the_window_and_only_those_are_shown(engine):
    """Counts are per UTC day of the event's timestamp; the window picks whole days."""
    store = MetadataEventStore(session_factory=session_scope(engine))
    save(store, receipt("w-1", "DELIVERED"))
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        connection.execute(
            rollup.count_upsert("sqlite", (now - timedelta(days=8)).date(), "sms_receipt", "SENT")
        )
    with session_scope(engine)() as session:
        week = load_sources(session, Window.last_days(7))
        fortnight = load_sources(session, Window.last_days(14))
    assert [(c.status, c.events) for c in week.counts] == [("DELIVERED", 1)]
    assert sorted((c.status, c.events) for c in fortnight.counts) == [("DELIVERED", 1), ("SENT", 1)]
