"""The webhook event store on a real PostgreSQL: exactly once under concurrent deliveries,
receipts of a reused request id kept apart, the dedupe table of an earlier version upgraded;
the page's counts kept in the same transactions, equal to the stored events counted afresh,
created and filled once by concurrent API-server processes, and read back by the page.

PostgreSQL answers a concurrent insert of the same key by waiting for the first transaction
and then failing, where SQLite takes a write lock up front (tests/sandbox/test_webhook_receiver.py
covers SQLite over HTTP). A throw-away server is started on loopback from the PostgreSQL
binaries on PATH (as the ``postgres`` user when the tests run as root); the tests are skipped
when there are none. The Airflow tables are created from Airflow's models.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS
from airflow_provider_sms.plugins import dashboard_rollup as rollup
from airflow_provider_sms.plugins.dashboard_data import Window, build_dashboard, load_sources
from airflow_provider_sms.plugins.store import EventKey, MetadataEventStore, SaveOutcome
from airflow_provider_sms.summaries import receipt_key as digest
from tests.support.databases import at_once, create_airflow_tables, session_scope
from tests.support.servers import stop_process_group
from tests.support.traffic import a_day_of_traffic, add_summary, counted_afresh, save, table_contents

pytest.importorskip("psycopg")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres() -> Iterator[sa.Engine]:
    """An empty PostgreSQL cluster with Airflow's tables; stopped and deleted afterwards."""
    binaries = {name: shutil.which(name) for name in ("initdb", "postgres")}
    if None in binaries.values():
        pytest.skip("PostgreSQL binaries (initdb, postgres) are not on PATH")
    as_user: list[str] = []
    home = tempfile.mkdtemp(prefix="sms-webhook-pg-")
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
        os.chown(home, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(home, "data"), _free_port()
    server: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [*as_user, str(binaries["initdb"]), "-D", data, "-U", "airflow", "-A", "trust", "--no-sync"],
            check=True,
            capture_output=True,
        )
        settings = [
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            home,
            "-c",
            "fsync=off",
            "-c",
            "max_connections=60",
        ]
        server = subprocess.Popen(
            [*as_user, str(binaries["postgres"]), "-D", data, *settings],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        engine = sa.create_engine(
            f"postgresql+psycopg://airflow@127.0.0.1:{port}/postgres", pool_size=20, max_overflow=20
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with engine.connect():
                    break
            except sa.exc.OperationalError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        create_airflow_tables(engine)
        yield engine
        engine.dispose()
    finally:
        if server is not None:
            stop_process_group(server, grace=20)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def store(postgres: sa.Engine) -> MetadataEventStore:
    return MetadataEventStore(session_factory=session_scope(postgres))


def stored_extras(engine: sa.Engine, **match: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent

    with engine.connect() as connection:
        extras = connection.execute(sa.select(AssetEvent.extra).order_by(AssetEvent.id)).scalars().all()
    return [dict(e) for e in extras if all(e.get(k) == v for k, v in match.items())]


def receipt_key(payload: dict[str, Any]) -> EventKey:
    return EventKey(
        f"receipt:{payload['requestId']}:{payload['status']}",
        request_id=payload["requestId"],
        number=payload.get("number"),
    )


def test_concurrent_repeats_of_an_inbound_sms_store_it_once(store, postgres):
    payload = {"from": "447911123456", "to": "447700900000", "messageId": f"pg-{uuid.uuid4()}", "text": "hi"}
    for _ in range(3):  # also once the key exists
        outcomes = at_once(
            12, lambda _: store.save(INBOUND_SMS, EventKey(f"inbound:{payload['messageId']}"), payload)
        )
        assert sum(not o.duplicate for o in outcomes) == (1 if _ == 0 else 0)
    assert stored_extras(postgres, messageId=payload["messageId"]) == [payload]


def test_concurrent_receipts_of_two_numbers_under_one_request_id_store_each_once(store, postgres):
    request_id = f"pg-reused-{uuid.uuid4().hex}"
    payloads = [
        {"requestId": request_id, "status": "DELIVERED", "number": number}
        for number in ("+447911123456", "+447700900123")
    ]
    outcomes = at_once(
        16, lambda i: store.save(DELIVERY_RECEIPTS, receipt_key(payloads[i % 2]), payloads[i % 2])
    )
    stored = [o for o in outcomes if not o.duplicate]
    assert len(stored) == 2
    # The second to commit waited for the first one's key, so it sees it: one conflict, naming it.
    (conflict,) = [o.conflict for o in stored if o.conflict is not None]
    first = next(o for o in stored if o.conflict is None)
    assert conflict.asset_event_id == first.asset_event_id
    assert sorted(e["number"] for e in stored_extras(postgres, requestId=request_id)) == sorted(
        p["number"] for p in payloads
    )
    again = at_once(6, lambda i: store.save(DELIVERY_RECEIPTS, receipt_key(payloads[i % 2]), payloads[i % 2]))
    assert all(o.duplicate for o in again)


def test_a_dedupe_table_of_an_earlier_version_is_upgraded_by_concurrent_servers(postgres):
    """Several API-server workers start at once on a table without the receipt columns."""
    with postgres.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS sms_api_webhook_dedupe"))
        connection.execute(
            sa.text(
                "CREATE TABLE sms_api_webhook_dedupe (dedupe_key VARCHAR(200) PRIMARY KEY, "
                "asset_name VARCHAR(250) NOT NULL, asset_event_id INTEGER, "
                "received_at TIMESTAMP WITH TIME ZONE NOT NULL)"
            )
        )
        connection.execute(
            sa.text("INSERT INTO sms_api_webhook_dedupe VALUES ('receipt:old:DELIVERED', 'x', NULL, now())")
        )

    def upgrade(_: int) -> SaveOutcome:
        MetadataEventStore(session_factory=session_scope(postgres)).ensure_schema()
        return SaveOutcome(duplicate=False)

    at_once(4, upgrade)
    inspector = sa.inspect(postgres)
    assert {"request_id", "number_digest"} <= {
        c["name"] for c in inspector.get_columns("sms_api_webhook_dedupe")
    }
    store = MetadataEventStore(session_factory=session_scope(postgres))
    old = {"requestId": "old", "status": "DELIVERED", "number": "+447911123456"}
    assert store.save(DELIVERY_RECEIPTS, receipt_key(old), old).duplicate  # stored before the upgrade


def test_the_counts_kept_in_each_saving_transaction_equal_the_events_counted_afresh(store, postgres):
    """Concurrent deliveries (repeats among them) update shared day rows: none lost, none twice."""
    sequences = a_day_of_traffic(f"pg-{uuid.uuid4().hex[:6]}") + a_day_of_traffic(
        f"pg-{uuid.uuid4().hex[:6]}"
    )
    at_once(len(sequences), lambda i: [save(store, p) for p in sequences[i]])
    assert table_contents(postgres) == counted_afresh(postgres)


def test_the_tables_are_created_and_filled_once_by_concurrent_first_starts(postgres):
    with postgres.begin() as connection:
        for table in rollup.TABLES:
            table.drop(connection, checkfirst=True)
    created = at_once(4, lambda _: rollup.ensure_tables(postgres))
    assert sorted(created) == [False, False, False, True]
    assert table_contents(postgres) == counted_afresh(postgres)


def test_the_page_reads_the_counts_and_the_funnel_on_postgresql(store, postgres):
    tag = f"pgpage-{uuid.uuid4().hex[:6]}"
    for steps in a_day_of_traffic(tag):
        for payload in steps:
            save(store, payload)
    add_summary(
        postgres,
        {"kind": "sms", "paid": {"sms": 25}, "receipt_keys": [digest(f"{tag}-{i}") for i in range(25)]},
    )
    window = Window.last_days(7)
    with session_scope(postgres)() as session:
        data = build_dashboard(load_sources(session, window), window)
    counts = {
        c.status: c.events
        for c in table_contents(postgres)[0]
        if c.kind == "sms_receipt" and c.day == window.last
    }
    today = next(d for d in data["delivery"]["days"] if d["day"] == window.last.isoformat())
    assert today["statuses"] == {s: counts.get(s, 0) for s in today["statuses"]}
    funnel = data["delivery"]["funnels"][0]
    keys = ("sent", "delivered", "undelivered", "rejected", "other", "pending", "no_receipt")
    assert [funnel[k] for k in keys] == [25, 12, 6, 6, 0, 0, 1]
