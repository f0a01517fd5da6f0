"""The webhook plugin served over HTTP, storing into a real Airflow metadata database, fed by
the HTTPS sandbox: receipts and inbound SMS become Asset events exactly once, also when
deliveries repeat, race each other, or the database fails once and the sandbox retries."""

from __future__ import annotations

import concurrent.futures
import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from airflow.sdk import Asset
from fastapi import FastAPI
from sqlalchemy.orm import sessionmaker

from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.plugins.store import MetadataEventStore, dedupe_table
from airflow_provider_sms.plugins.webhooks import URL_PREFIX, SecretRedactingApp, SecretSource, create_app
from airflow_provider_sms.sending.callbacks import resolve_callback_url
from tests.support.servers import serve_asgi

SECRET = "receiver-test-secret-0123456789"
MOBILE = "+447911123456"


@dataclass
class Receiver:
    base_url: str
    store: MetadataEventStore

    @property
    def receipts_url(self) -> str:
        return f"{self.base_url}{URL_PREFIX}/webhooks/{SECRET}/delivery-receipts"

    @property
    def inbound_url(self) -> str:
        return f"{self.base_url}{URL_PREFIX}/webhooks/{SECRET}/inbound-sms"


@pytest.fixture
def receiver(airflow_db: Any) -> Iterator[Receiver]:
    """The plugin's app mounted under /sms-api, as Airflow's API server mounts it."""
    store = MetadataEventStore()
    root = FastAPI()
    app = create_app(secrets=SecretSource(lambda: SECRET, ttl=0), store=store)
    root.mount(URL_PREFIX, SecretRedactingApp(app))
    with serve_asgi(root) as base_url:
        yield Receiver(base_url, store)


def events_of(asset: Asset, **match: Any) -> list[dict[str, Any]]:
    """``extra`` of the asset's stored events whose fields equal ``match``."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            sa.select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == asset.name, AssetModel.uri == asset.uri)
            .order_by(AssetEvent.id)
        ).all()
    return [dict(extra) for extra in rows if all(extra.get(k) == v for k, v in match.items())]


def inbound(message_id: str, text: str = "Hello") -> dict[str, Any]:
    return {
        "from": "447911123456",
        "to": "447700900000",
        "messageId": message_id,
        "text": text,
        "timestamp": 1578787200,
        "parts": 1,
    }


def test_inbound_sms_from_the_sandbox_is_stored_once(receiver, sandbox_factory):
    with sandbox_factory(webhook_url=receiver.inbound_url) as sandbox:
        payload = sandbox.inject_inbound_sms(MOBILE, "+447700900000", "STOP")
        (record,) = sandbox.wait_for_deliveries(1, timeout=15, kind="inbound")
    assert (record["delivered"], record["last_status"], record["attempts"]) == (True, 200, 1)
    assert events_of(INBOUND_SMS, messageId=payload["messageId"]) == [payload]


def test_sms_receipts_reach_the_plugin_through_callback_url_airflow(receiver, sandbox_factory, monkeypatch):
    """The operators' callback_url="airflow" resolves to this plugin's route (callbacks.py)."""
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_BASE_URL", receiver.base_url)
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_SECRET", SECRET)
    callback = resolve_callback_url("airflow")
    assert callback == receiver.receipts_url
    with sandbox_factory() as sandbox:
        monkeypatch.setenv("AIRFLOW_CONN_SMS_API_DEFAULT", sandbox.airflow_conn_json())
        hook = SmsApiHook()
        undelivered = hook.send_sms("+447911123499", "Your code is 1234", callback_url=callback).request_id
        delivered = hook.send_sms("+447911123401", "Your code is 1234", callback_url=callback).request_id
        records = sandbox.wait_for_deliveries(4, timeout=15, kind="receipt")
    assert [r["last_status"] for r in records] == [200] * 4
    assert [(e["requestId"], e["status"]) for e in events_of(DELIVERY_RECEIPTS, requestId=undelivered)] == [
        (undelivered, "SENT"),
        (undelivered, "UNDELIVERED"),
    ]
    assert [(e["requestId"], e["status"]) for e in events_of(DELIVERY_RECEIPTS, requestId=delivered)] == [
        (delivered, "SENT"),
        (delivered, "DELIVERED"),
    ]


def test_concurrent_repeats_of_one_event_store_it_once(receiver):
    payload = inbound(f"race-{uuid.uuid4()}")
    barrier = threading.Barrier(16)

    def deliver(_: int) -> tuple[int, str]:
        with httpx.Client(timeout=30, trust_env=False) as client:
            barrier.wait()
            response = client.post(receiver.inbound_url, json=payload)
            return response.status_code, response.json().get("status", "")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(deliver, range(16)))
    assert {status for status, _ in answers} == {200}
    assert sorted(outcome for _, outcome in answers) == ["duplicate"] * 15 + ["stored"]
    assert events_of(INBOUND_SMS, messageId=payload["messageId"]) == [payload]


def test_database_failure_answers_503_and_the_sandbox_retry_stores_it(receiver, sandbox_factory, mocker):
    """The first write fails inside the transaction (after the dedupe row was inserted): both
    roll back, the endpoint answers 503, the sandbox re-sends, the event is stored once."""
    from airflow.assets.manager import AssetManager

    real = AssetManager.register_asset_change.__func__  # type: ignore[attr-defined]
    calls: list[int] = []

    def fail_once(cls: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("INSERT INTO asset_event", {}, sqlite3.OperationalError("disk I/O"))
        return real(cls, **kwargs)

    mocker.patch.object(AssetManager, "register_asset_change", classmethod(fail_once))
    with sandbox_factory(webhook_url=receiver.inbound_url) as sandbox:
        payload = sandbox.inject_inbound_sms(MOBILE, "+447700900000", "Unsubscribe")
        (record,) = sandbox.wait_for_deliveries(1, timeout=20, kind="inbound")
    assert record["attempts"] >= 2
    assert (record["delivered"], record["last_status"]) == (True, 200)
    assert events_of(INBOUND_SMS, messageId=payload["messageId"]) == [payload]
    assert receiver.store.count(f"inbound:{payload['messageId']}") == 1


def test_events_of_an_asset_no_dag_declared_yet_are_stored(airflow_db):
    """The asset row is created on first use, once, even by concurrent first events."""
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session

    fresh = Asset(f"sms-api://test-fresh-{uuid.uuid4().hex}")
    store = MetadataEventStore()
    barrier = threading.Barrier(6)

    def save(i: int) -> bool:
        barrier.wait()
        return store.save(fresh, f"test:{fresh.name}:{i}", {"n": i}).duplicate

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        duplicates = list(pool.map(save, range(6)))
    assert duplicates == [False] * 6
    with create_session() as session:
        assert session.scalar(sa.select(sa.func.count()).where(AssetModel.name == fresh.name)) == 1
    assert sorted(e["n"] for e in events_of(fresh)) == list(range(6))


def test_dedupe_rows_point_at_their_asset_events(receiver):
    payload = inbound(f"link-{uuid.uuid4()}")
    assert httpx.post(receiver.inbound_url, json=payload, trust_env=False).json() == {"status": "stored"}
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.execute(
            sa.select(dedupe_table).where(dedupe_table.c.dedupe_key == f"inbound:{payload['messageId']}")
        ).one()
    assert row.asset_name == INBOUND_SMS.name
    assert row.asset_event_id is not None


def test_wrong_secret_is_refused_over_http_and_nothing_stored(receiver):
    payload = inbound(f"wrong-{uuid.uuid4()}")
    url = receiver.inbound_url.replace(SECRET, "guess-" + SECRET[6:])
    response = httpx.post(url, json=payload, trust_env=False)
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})
    assert events_of(INBOUND_SMS, messageId=payload["messageId"]) == []


def test_a_burst_of_events_stays_covered_by_the_queued_run_request(airflow_db):
    """Airflow 3.3.2 keeps the first event's queue time for a whole burst, so a run created
    from it would leave the later events behind; the store moves that time to the latest event."""
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel, DagScheduleAssetReference
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.utils.session import create_session

    fresh = Asset(f"sms-api://test-burst-{uuid.uuid4().hex}")
    store = MetadataEventStore()
    store.ensure_asset(fresh)
    dag_id = f"burst_consumer_{uuid.uuid4().hex[:8]}"
    with create_session() as session:
        if session.get(DagBundleModel, "webhook-tests") is None:
            session.add(DagBundleModel(name="webhook-tests"))
            session.flush()
        asset_id = session.scalar(sa.select(AssetModel.id).where(AssetModel.name == fresh.name))
        session.add(
            DagModel(
                dag_id=dag_id,
                bundle_name="webhook-tests",
                is_paused=False,
                is_stale=False,  # a parsed, live DAG: Airflow 3.1 queues no run for a stale one
                max_active_tasks=1,
                max_consecutive_failed_dag_runs=0,
                has_task_concurrency_limits=False,
            )
        )
        session.flush()
        session.add(DagScheduleAssetReference(asset_id=asset_id, dag_id=dag_id))
    for i in range(3):
        store.save(fresh, f"burst:{fresh.name}:{i}", {"n": i})
    with create_session() as session:
        queued = session.scalars(
            sa.select(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == dag_id)
        ).all()
        latest = session.scalar(
            sa.select(sa.func.max(AssetEvent.timestamp)).where(AssetEvent.asset_id == asset_id)
        )
    assert len(queued) == 1
    assert queued[0].created_at == latest  # the scheduler's window now reaches the last event


# --- a request id stored before for another number ------------------------------------------


def receipt(request_id: str, number: str | None, status: str = "DELIVERED") -> dict[str, Any]:
    payload: dict[str, Any] = {"requestId": request_id, "status": status, "timestamp": 1700000000}
    if number is not None:
        payload["number"] = number
    return payload


def post_receipt(receiver: Receiver, payload: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(receiver.receipts_url, json=payload, trust_env=False, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_receipt_for_another_number_under_a_known_request_id_is_stored_as_a_conflict(receiver, caplog):
    """A reused request id (the sandbox before issue 11, after a restart) must not make the
    receipt of another person's message look like a repeat."""
    caplog.set_level(logging.INFO, logger="airflow_provider_sms")
    request_id = f"reused-{uuid.uuid4().hex}"
    first, other = receipt(request_id, "+447911123456"), receipt(request_id, "+447700900123")
    assert post_receipt(receiver, first) == {"status": "stored"}
    assert post_receipt(receiver, other) == {"status": "stored", "conflict": True}
    assert post_receipt(receiver, first) == {"status": "duplicate"}
    assert post_receipt(receiver, other) == {"status": "duplicate"}
    assert post_receipt(receiver, dict(other, number="447700900123")) == {
        "status": "duplicate"
    }  # same digits
    assert events_of(DELIVERY_RECEIPTS, requestId=request_id) == [first, other]
    (warning,) = [r.getMessage() for r in caplog.records if "CONFLICT" in r.getMessage()]
    assert request_id in warning
    assert "+4477******23" in warning
    assert "+4479******56" in warning
    assert "447911123456" not in caplog.text
    assert "447700900123" not in caplog.text


def test_a_conflict_under_another_status_is_reported_too(receiver):
    request_id = f"reused-{uuid.uuid4().hex}"
    assert post_receipt(receiver, receipt(request_id, "+447911123456", "SENT")) == {"status": "stored"}
    later = post_receipt(receiver, receipt(request_id, "+447700900123", "UNDELIVERED"))
    assert later == {"status": "stored", "conflict": True}
    same_person = post_receipt(receiver, receipt(request_id, "+447911123456", "DELIVERED"))
    assert same_person == {"status": "stored", "conflict": True}  # the other number is on record now
    assert len(events_of(DELIVERY_RECEIPTS, requestId=request_id)) == 3


def test_receipts_without_a_number_keep_the_request_and_status_key(receiver):
    request_id = f"bare-{uuid.uuid4().hex}"
    assert post_receipt(receiver, receipt(request_id, None)) == {"status": "stored"}
    assert post_receipt(receiver, receipt(request_id, None)) == {"status": "duplicate"}
    assert post_receipt(receiver, receipt(request_id, "+447911123456")) == {"status": "duplicate"}
    assert len(events_of(DELIVERY_RECEIPTS, requestId=request_id)) == 1


def test_rows_of_an_earlier_version_count_as_stored_whatever_the_number(receiver):
    """Rows written before the number digest existed: a key match stays a repeat (no second
    event during an upgrade while the API retries)."""
    from airflow.utils.session import create_session

    request_id = f"legacy-{uuid.uuid4().hex}"
    receiver.store.ensure_schema()
    with create_session() as session:
        session.execute(
            sa.insert(dedupe_table).values(
                dedupe_key=f"receipt:{request_id}:DELIVERED",
                asset_name=DELIVERY_RECEIPTS.name,
                received_at=datetime.now(timezone.utc),
            )
        )
    assert post_receipt(receiver, receipt(request_id, "+447911123456")) == {"status": "duplicate"}
    assert events_of(DELIVERY_RECEIPTS, requestId=request_id) == []


def test_concurrent_repeats_of_two_messages_under_one_request_id_store_each_once(receiver):
    request_id = f"race-{uuid.uuid4().hex}"
    payloads = [receipt(request_id, "+447911123456"), receipt(request_id, "+447700900123")] * 8
    barrier = threading.Barrier(len(payloads))

    def deliver(payload: dict[str, Any]) -> dict[str, Any]:
        with httpx.Client(timeout=60, trust_env=False) as client:
            barrier.wait()
            response = client.post(receiver.receipts_url, json=payload)
            assert response.status_code == 200, response.text
            return dict(response.json())

    with concurrent.futures.ThreadPoolExecutor(len(payloads)) as pool:
        answers = list(pool.map(deliver, payloads))
    assert sorted(a["status"] for a in answers) == ["duplicate"] * 14 + ["stored"] * 2
    assert [a.get("conflict") for a in answers if a["status"] == "stored"].count(True) == 1
    stored = events_of(DELIVERY_RECEIPTS, requestId=request_id)
    assert sorted(e["number"] for e in stored) == ["+447700900123", "+447911123456"]


def test_a_dedupe_table_of_an_earlier_version_gets_the_receipt_columns(tmp_path):
    """Upgrading the provider: the table created by an earlier version (same name, four
    columns) gains ``request_id`` and ``number_digest`` and their index, keeping its rows."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TABLE sms_api_webhook_dedupe (dedupe_key VARCHAR(200) PRIMARY KEY, "
                "asset_name VARCHAR(250) NOT NULL, asset_event_id INTEGER, received_at DATETIME NOT NULL)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO sms_api_webhook_dedupe VALUES ('inbound:old', 'x', 1, '2025-01-01 00:00:00')"
            )
        )
    sessions = sessionmaker(engine)

    for _ in range(2):  # idempotent; a second API-server process does the same
        MetadataEventStore(session_factory=sessions.begin).ensure_schema()
    inspector = sa.inspect(engine)
    columns = {column["name"] for column in inspector.get_columns("sms_api_webhook_dedupe")}
    assert {"request_id", "number_digest"} <= columns
    assert "ix_sms_api_webhook_dedupe_request_id" in {
        i["name"] for i in inspector.get_indexes("sms_api_webhook_dedupe")
    }
    with engine.connect() as connection:
        assert connection.execute(
            sa.text("SELECT dedupe_key FROM sms_api_webhook_dedupe")
        ).scalars().all() == ["inbound:old"]
    engine.dispose()
