"""The webhook app's HTTP contract, with an in-memory event store (no database, no network).

The store is replaced so these tests pin what the endpoint answers and hands over; the real
store is tested against a real metadata database in tests/sandbox/test_webhook_receiver.py.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS
from airflow_provider_sms.plugins.store import SaveOutcome, storage_key
from airflow_provider_sms.plugins.webhooks import (
    MAX_BODY_BYTES,
    SecretRedactingApp,
    SecretSource,
    SmsApiWebhookPlugin,
    create_app,
    redact_scope,
)

SECRET = "s3cr3t-0123456789-abcdef"
RECEIPT = {"requestId": "req-1", "number": "+447911123456", "status": "DELIVERED", "timestamp": 1700000000}
INBOUND = {
    "from": "447911123456",
    "to": "447700900000",
    "messageId": "msg-1",
    "text": "Private words here",
    "timestamp": 1578787200,
    "parts": 1,
}


class MemoryStore:
    """Dedupes by key like the real store; can be told to fail."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.keys: set[str] = set()
        self.fail_next = 0
        self._lock = threading.Lock()

    def save(self, asset: Any, key: str, payload: dict[str, Any]) -> SaveOutcome:
        with self._lock:
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("database is locked")
            if key in self.keys:
                return SaveOutcome(duplicate=True)
            self.keys.add(key)
            self.events.append((asset.uri, key, payload))
            return SaveOutcome(duplicate=False, asset_event_id=len(self.events))


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def client_for(store: MemoryStore, secret: str = SECRET, **kwargs: Any) -> TestClient:
    app = create_app(secrets=SecretSource(lambda: secret, ttl=0), store=store, **kwargs)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(store: MemoryStore) -> TestClient:
    return client_for(store)


def receipts_url(secret: str = SECRET) -> str:
    return f"/webhooks/{secret}/delivery-receipts"


def inbound_url(secret: str = SECRET) -> str:
    return f"/webhooks/{secret}/inbound-sms"


class TestStoring:
    def test_receipt_is_stored_unchanged_under_its_request_and_status(self, client, store):
        payload = dict(RECEIPT, status="delivered", extraField={"kept": True})
        response = client.post(receipts_url(), json=payload)
        assert response.status_code == 200
        assert response.json() == {"status": "stored"}
        assert store.events == [(DELIVERY_RECEIPTS.uri, "receipt:req-1:DELIVERED", payload)]

    def test_inbound_sms_is_stored_unchanged_under_its_message_id(self, client, store):
        response = client.post(inbound_url(), json=INBOUND)
        assert (response.status_code, response.json()) == (200, {"status": "stored"})
        assert store.events == [(INBOUND_SMS.uri, "inbound:msg-1", INBOUND)]

    def test_a_repeat_is_acknowledged_without_a_second_event(self, client, store):
        first = client.post(inbound_url(), json=INBOUND)
        again = client.post(inbound_url(), json=dict(INBOUND, text="resent"))
        assert (first.status_code, again.status_code) == (200, 200)
        assert again.json() == {"status": "duplicate"}
        assert len(store.events) == 1

    def test_same_request_with_a_new_status_is_a_new_event(self, client, store):
        client.post(receipts_url(), json=dict(RECEIPT, status="SENT"))
        client.post(receipts_url(), json=RECEIPT)
        client.post(receipts_url(), json=RECEIPT)
        assert [key for _, key, _ in store.events] == ["receipt:req-1:SENT", "receipt:req-1:DELIVERED"]

    def test_storage_failure_answers_503_so_the_sender_retries(self, client, store):
        store.fail_next = 1
        failed = client.post(inbound_url(), json=INBOUND)
        assert failed.status_code == 503
        retried = client.post(inbound_url(), json=INBOUND)
        assert retried.json() == {"status": "stored"}
        assert len(store.events) == 1


class TestSecret:
    def test_wrong_secret_looks_exactly_like_an_unknown_path(self, client, store):
        unknown = client.post("/no/such/path", json=RECEIPT)
        wrong = client.post(receipts_url("not-the-secret-at-all"), json=RECEIPT)
        assert (wrong.status_code, wrong.content) == (unknown.status_code, unknown.content) == (
            404,
            b'{"detail":"Not Found"}',
        )
        assert store.events == []

    @pytest.mark.parametrize(
        "path",
        [
            "/webhooks//delivery-receipts",
            "/webhooks/delivery-receipts",
            f"/webhooks/{SECRET[:-1]}/delivery-receipts",
            f"/webhooks/{SECRET}x/delivery-receipts",
            f"/webhooks/{SECRET.upper()}/delivery-receipts",
            f"/webhooks/{SECRET}/typo",
        ],
    )
    def test_missing_or_near_miss_secret_is_refused(self, client, store, path):
        assert client.post(path, json=RECEIPT).status_code == 404
        assert store.events == []

    @pytest.mark.parametrize("configured", ["", "   ", "short-secret"])
    def test_without_a_usable_secret_everything_is_refused(self, store, configured):
        client = client_for(store, secret=configured)
        for candidate in ("", "   ", "short-secret", SECRET, "x"):
            assert client.post(receipts_url(candidate), json=RECEIPT).status_code in (404, 405)
        assert store.events == []

    def test_secret_is_read_from_airflow_configuration(self, monkeypatch, store):
        monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_SECRET", SECRET)
        app = create_app(secrets=SecretSource(ttl=0), store=store)
        client = TestClient(app)
        assert client.post(receipts_url(), json=RECEIPT).status_code == 200
        monkeypatch.delenv("AIRFLOW__SMS_API__WEBHOOK_SECRET")
        assert client.post(receipts_url(), json=dict(RECEIPT, status="SENT")).status_code == 404

    def test_secret_is_cached_briefly_then_reread(self):
        configured = [SECRET]
        reads: list[str] = []

        def read() -> str:
            reads.append(configured[0])
            return configured[0]

        cached = SecretSource(read, ttl=3600)
        assert cached.matches(SECRET)
        configured[0] = "rotated-secret-0123456789"
        assert cached.matches(SECRET)  # still the cached value
        assert reads == [SECRET]
        fresh = SecretSource(read, ttl=0)
        assert not fresh.matches(SECRET)
        assert fresh.matches("rotated-secret-0123456789")

    def test_unreadable_configuration_refuses_everything(self):
        def broken() -> str:
            raise OSError("secrets backend down")

        assert SecretSource(broken, ttl=0).matches("") is False


class TestRefusals:
    def test_body_announced_too_large_is_refused_before_reading(self, client, store):
        response = client.post(
            inbound_url(), content=b"{}", headers={"Content-Length": str(MAX_BODY_BYTES + 1)}
        )
        assert response.status_code == 413
        assert store.events == []

    def test_streamed_body_without_length_is_capped(self, client, store):
        def chunks():
            for _ in range(MAX_BODY_BYTES // 1024 + 2):
                yield b" " * 1024

        response = client.post(inbound_url(), content=chunks())
        assert response.status_code == 413
        assert store.events == []

    def test_body_at_the_limit_is_read(self, store):
        client = client_for(store, max_body_bytes=2048)
        body = json.dumps(INBOUND).encode()
        body += b" " * (2048 - len(body))
        assert client.post(inbound_url(), content=body).status_code == 200

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            (b"{not json", 400),
            (b"\xff\xfe", 400),
            (b"", 400),
            (b"[1, 2]", 422),
            (b'"text"', 422),
        ],
    )
    def test_malformed_bodies_get_a_4xx(self, client, store, body, status):
        assert client.post(receipts_url(), content=body).status_code == status
        assert client.post(inbound_url(), content=body).status_code == status
        assert store.events == []

    @pytest.mark.parametrize(
        "payload",
        [
            {k: v for k, v in RECEIPT.items() if k != "requestId"},
            {k: v for k, v in RECEIPT.items() if k != "status"},
            dict(RECEIPT, status="LOST_IN_SPACE"),
            dict(RECEIPT, requestId={"nested": 1}),
            dict(RECEIPT, timestamp="yesterday"),
            dict(RECEIPT, billable="maybe"),
        ],
    )
    def test_invalid_receipts_get_422(self, client, store, payload):
        response = client.post(receipts_url(), json=payload)
        assert response.status_code == 422, response.text
        assert "invalid delivery-receipts payload" in response.json()["detail"]
        assert store.events == []

    @pytest.mark.parametrize(
        "payload",
        [
            {k: v for k, v in INBOUND.items() if k != "messageId"},
            {k: v for k, v in INBOUND.items() if k != "from"},
            dict(INBOUND, text=None),
            dict(INBOUND, text=42),
            dict(INBOUND, parts="two"),
        ],
    )
    def test_invalid_inbound_sms_get_422(self, client, store, payload):
        assert client.post(inbound_url(), json=payload).status_code == 422
        assert store.events == []

    @pytest.mark.parametrize(
        "body",
        [
            b'{"requestId": "r", "status": "DELIVERED", "note": NaN}',
            b'{"requestId": "r", "status": "DELIVERED", "sipStatus": Infinity}',
            b'{"requestId": "r", "status": "DELIVERED", "sipStatus": 1e400}',
            b"[" * 50_000,
        ],
    )
    def test_bodies_python_reads_but_json_forbids_get_400_not_a_5xx(self, client, store, body):
        """NaN/Infinity are not JSON (nor storable as JSON); a 5xx would be retried forever."""
        assert client.post(receipts_url(), content=body).status_code == 400
        assert store.events == []

    def test_get_is_not_allowed(self, client):
        assert client.get(inbound_url()).status_code == 405


class TestPrivacy:
    def test_logs_hold_no_full_number_no_text_and_no_secret(self, client, store, caplog, capfd):
        caplog.set_level(logging.DEBUG)
        client.post(inbound_url(), json=INBOUND)
        client.post(inbound_url(), json=INBOUND)
        client.post(receipts_url(), json=RECEIPT)
        store.fail_next = 1
        client.post(inbound_url(), json=dict(INBOUND, messageId="msg-2"))
        client.post(inbound_url(), json=dict(INBOUND, parts="x"))
        out, err = capfd.readouterr()
        logged = caplog.text + out + err
        assert "msg-1" in logged  # ids are logged...
        assert "req-1" in logged
        for secret_thing in ("447911123456", "Private words here", SECRET):
            assert secret_thing not in logged  # ...numbers, texts and the secret are not

    def test_database_errors_are_logged_without_their_parameters(self, store, caplog, capfd):
        """SQLAlchemy errors print the statement's parameters (the payload): only the driver's
        message may reach the log."""
        import sqlite3

        import sqlalchemy as sa

        class FailingStore(MemoryStore):
            def save(self, asset: Any, key: str, payload: dict[str, Any]) -> SaveOutcome:
                raise sa.exc.OperationalError(
                    "INSERT INTO asset_event (extra) VALUES (?)",
                    (json.dumps(payload),),
                    sqlite3.OperationalError("database is locked"),
                )

        caplog.set_level(logging.INFO)
        response = client_for(FailingStore()).post(inbound_url(), json=INBOUND)
        assert response.status_code == 503
        out, err = capfd.readouterr()
        logged = caplog.text + out + err
        assert "database is locked" in logged
        assert "447911123456" not in logged
        assert "Private words here" not in logged

    def test_redacting_wrapper_blanks_the_secret_in_the_shared_scope(self, store):
        seen: dict[str, Any] = {}
        inner = SecretRedactingApp(create_app(secrets=SecretSource(lambda: SECRET, ttl=0), store=store))

        async def access_log(scope, receive, send):  # what Airflow's access-log middleware reads
            await inner(scope, receive, send)
            seen["path"], seen["raw_path"] = scope["path"], scope["raw_path"]

        client = TestClient(access_log)
        for secret in (SECRET, "wrong-secret"):
            assert client.post(inbound_url(secret), json=INBOUND).status_code in (200, 404)
            assert seen["path"] == "/webhooks/***/inbound-sms"
            assert seen["raw_path"] == b"/webhooks/***/inbound-sms"
        assert len(store.events) == 1

    def test_redact_scope_touches_only_the_segment_after_webhooks(self):
        scope = {"path": "/sms-api/webhooks/abc/inbound-sms", "raw_path": b"/sms-api/webhooks/a%2Fb/x"}
        redact_scope(scope)
        assert scope == {"path": "/sms-api/webhooks/***/inbound-sms", "raw_path": b"/sms-api/webhooks/***/x"}


class TestStorageKey:
    def test_short_keys_are_kept_long_ones_hashed_stably(self):
        assert storage_key("inbound:abc") == "inbound:abc"
        long_key = "receipt:" + "x" * 300 + ":DELIVERED"
        hashed = storage_key(long_key)
        assert hashed.startswith("sha256:")
        assert len(hashed) <= 200
        assert hashed == storage_key(long_key)
        assert hashed != storage_key(long_key.replace("DELIVERED", "SENT"))


class TestPlugin:
    def test_plugin_mounts_the_app_under_sms_api(self):
        entry = SmsApiWebhookPlugin.fastapi_apps[-1]  # after the SMS & Voice page's (/sms-api/dashboard)
        assert entry["url_prefix"] == "/sms-api"
        assert entry["name"] == "SMS API webhooks"
        assert isinstance(entry["app"], SecretRedactingApp)
        assert SmsApiWebhookPlugin.name == "sms_api"

    def test_app_serves_no_documentation(self, client):
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404
