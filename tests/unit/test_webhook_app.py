"""The webhook app's HTTP contract, with an in-memory event store (no database, no network).

The store is replaced so these tests pin what the endpoint answers and hands over; the real
store is tested against a real metadata database in tests/sandbox/test_webhook_receiver.py.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import types
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS
from airflow_provider_sms.plugins.redaction import SecretRedactingApp, redact_scope, route_words
from airflow_provider_sms.plugins.store import Conflict, EventKey, SaveOutcome, storage_key
from airflow_provider_sms.plugins.webhooks import (
    MAX_BODY_BYTES,
    SecretSource,
    SmsApiWebhookPlugin,
    create_app,
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
    """Dedupes by key like the real store (a key taken for another number is a conflict, not a
    repeat); can be told to fail."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.keys: dict[str, str | None] = {}  # key -> number
        self.numbers: dict[str, tuple[str, int]] = {}  # request id -> (number, event id)
        self.fail_next = 0
        self._lock = threading.Lock()

    def save(self, asset: Any, key: EventKey, payload: dict[str, Any]) -> SaveOutcome:
        with self._lock:
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("database is locked")
            name = key.key
            if name in self.keys:
                if key.number is None or self.keys[name] in (None, key.number):
                    return SaveOutcome(duplicate=True)
                name = f"{key.key}:number:{key.number}"
                if name in self.keys:
                    return SaveOutcome(duplicate=True)
            self.keys[name] = key.number
            self.events.append((asset.uri, name, payload))
            event_id = len(self.events)
            conflict = None
            if key.request_id is not None and key.number is not None:
                earlier = self.numbers.setdefault(key.request_id, (key.number, event_id))
                if earlier[0] != key.number:
                    conflict = Conflict(asset_event_id=earlier[1], number=earlier[0])
            return SaveOutcome(duplicate=False, asset_event_id=event_id, conflict=conflict)


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

    def test_a_request_id_stored_for_another_number_is_stored_as_a_conflict(self, client, store, caplog):
        caplog.set_level(logging.INFO)
        first = client.post(receipts_url(), json=dict(RECEIPT, number="+447911123456"))
        other = client.post(receipts_url(), json=dict(RECEIPT, number="+447700900123"))
        again = client.post(receipts_url(), json=dict(RECEIPT, number="+447700900123"))
        assert first.json() == {"status": "stored"}
        assert other.json() == {"status": "stored", "conflict": True}
        assert again.json() == {"status": "duplicate"}
        assert len(store.events) == 2
        (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert "CONFLICT" in warning
        assert "req-1" in warning
        assert "+4477******23" in warning
        assert "+4479******56" in warning
        assert "447700900123" not in caplog.text
        assert "447911123456" not in caplog.text

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
        assert (
            (wrong.status_code, wrong.content)
            == (unknown.status_code, unknown.content)
            == (
                404,
                b'{"detail":"Not Found"}',
            )
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

    @pytest.mark.parametrize(
        ("configured", "reason"),
        [
            ("", "is not set"),
            ("short-secret", "shorter than 16"),
            ("abc/defghijklmnopqrstu", "characters other than"),
            ("abc+defghijklmnopqrst=", "characters other than"),
            ("with space inside 0123", "characters other than"),
            ("caf\u00e9-0123456789abcdef", "characters other than"),
        ],
    )
    def test_an_unusable_secret_refuses_everything_and_says_why_once(self, store, caplog, configured, reason):
        caplog.set_level(logging.WARNING)
        client = client_for(store, secret=configured)
        for candidate in (configured, quote(configured, safe=""), SECRET):
            if candidate:
                assert client.post(receipts_url(candidate), json=RECEIPT).status_code == 404
        assert store.events == []
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1  # once, not per request
        assert reason in warnings[0]
        assert "refuses every request" in warnings[0]
        if configured:
            assert configured not in caplog.text

    def test_a_fixed_secret_is_used_and_a_new_problem_is_reported(self, caplog):
        caplog.set_level(logging.WARNING)
        configured = ["a/b-0123456789abcdef"]
        source = SecretSource(lambda: configured[0], ttl=0)
        assert not source.matches("a/b-0123456789abcdef")
        configured[0] = SECRET
        assert source.matches(SECRET)
        configured[0] = "short"
        assert not source.matches("short")
        assert ["characters other than" in m or "shorter than" in m for m in caplog.messages] == [True, True]

    def test_the_api_server_reads_the_secret_when_the_plugin_loads(self, monkeypatch, caplog):
        """Its log says at start-up why every request would be refused; other components (task
        runners load plugins for macros) neither read the secret nor log about it."""
        import airflow_provider_sms.plugins.webhooks as webhooks

        caplog.set_level(logging.WARNING)
        reads: list[int] = []

        def read() -> str:
            reads.append(1)
            return "abc/defghijklmnopqrstu"

        monkeypatch.setattr(webhooks, "secrets", SecretSource(read, ttl=0))
        monkeypatch.delitem(sys.modules, "airflow.api_fastapi.app", raising=False)
        SmsApiWebhookPlugin.on_load()
        assert (reads, caplog.messages) == ([], [])
        server_module = "airflow.api_fastapi.app"
        monkeypatch.setitem(sys.modules, server_module, types.ModuleType(server_module))
        SmsApiWebhookPlugin.on_load()
        assert reads == [1]
        assert "characters other than A-Z" in caplog.text


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


HUGE = int("1" + "0" * 400)


def raw_json(payload: dict[str, Any], **raw: str) -> bytes:
    """``payload`` as JSON, with ``raw`` fields spliced in as literal JSON text."""
    body = json.dumps(payload)[:-1]
    return (body + "".join(f', "{k}": {v}' for k, v in raw.items()) + "}").encode()


class TestUnstorablePayloads:
    """Payloads Airflow could store but not give back (or PostgreSQL would refuse), and numbers
    whose conversion overflows: a 4xx, never a 5xx the sender retries for 24 hours."""

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            (raw_json({k: v for k, v in INBOUND.items() if k != "text"}, text='"\\ud800"'), 422),
            (raw_json({k: v for k, v in INBOUND.items() if k != "text"}, text='"ok \\udfff then"'), 422),
            (raw_json({k: v for k, v in INBOUND.items() if k != "from"}, **{"from": '"\\ud83d"'}), 422),
            (raw_json(INBOUND, note='{"deep": ["\\udc00"]}'), 422),
            (raw_json(INBOUND, **{"\\ud800key": "1"}), 422),
            (raw_json({k: v for k, v in INBOUND.items() if k != "text"}, text='"a\\u0000b"'), 422),
            (json.dumps(INBOUND).replace("Private", "Pri\\ud800vate").encode(), 422),
            (json.dumps(INBOUND).replace("Private", "Pri\\u0000vate").encode(), 422),
            (json.dumps(INBOUND).encode().replace(b"Private", b"Pri\xed\xa0\x80vate"), 400),  # raw surrogate
            (json.dumps(INBOUND).encode().replace(b"Private", b"Pri\xffvate"), 400),
            (json.dumps(INBOUND).encode("utf-16"), 400),
            (raw_json({k: v for k, v in INBOUND.items() if k != "timestamp"}, timestamp=str(HUGE)), 422),
            (raw_json({k: v for k, v in INBOUND.items() if k != "timestamp"}, timestamp=f'"{HUGE}"'), 422),
            (raw_json({k: v for k, v in INBOUND.items() if k != "timestamp"}, timestamp="1e300"), 422),
            (raw_json({k: v for k, v in INBOUND.items() if k != "parts"}, parts=str(HUGE)), 422),
            (raw_json(INBOUND, anything=str(2**63)), 422),
        ],
    )
    def test_inbound_sms_is_refused_with_a_4xx(self, client, store, body, status):
        response = client.post(inbound_url(), content=body)
        assert response.status_code == status, response.text
        assert store.events == []

    @pytest.mark.parametrize(
        "body",
        [
            raw_json({k: v for k, v in RECEIPT.items() if k != "timestamp"}, timestamp=str(HUGE)),
            raw_json(RECEIPT, callEndedAt=str(-HUGE)),
            raw_json(RECEIPT, sipStatus=str(HUGE)),
            raw_json(RECEIPT, sipStatus=f'"{HUGE}"'),
            raw_json({k: v for k, v in RECEIPT.items() if k != "number"}, number='"+44\\ud800"'),
            raw_json({k: v for k, v in RECEIPT.items() if k != "requestId"}, requestId='"r\\u0000"'),
        ],
    )
    def test_receipts_are_refused_with_422(self, client, store, body):
        response = client.post(receipts_url(), content=body)
        assert response.status_code == 422, response.text
        assert "invalid delivery-receipts payload" in response.json()["detail"]
        assert store.events == []

    def test_the_refusal_names_the_field_not_the_value(self, client):
        body = raw_json({k: v for k, v in INBOUND.items() if k != "text"}, text='"secret \\ud800 words"')
        detail = client.post(inbound_url(), content=body).json()["detail"]
        assert "'text'" in detail
        assert "surrogate" in detail
        assert "secret" not in detail

    def test_emoji_and_other_valid_text_are_stored(self, client, store):
        text = "Ja \U0001f600 \u00e9\u00e8 \u4f60\u597d"
        body = json.dumps(dict(INBOUND, text=text)).encode()  # emoji escaped as a surrogate pair
        assert b"\\ud83d\\ude00" in body
        assert client.post(inbound_url(), content=body).json() == {"status": "stored"}
        with_bom = b"\xef\xbb\xbf" + json.dumps(RECEIPT).encode()
        assert client.post(receipts_url(), content=with_bom).status_code == 200
        assert [payload.get("text") for _, _, payload in store.events] == [text, None]


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


def percent_encoded(text: str) -> str:
    return "".join(f"%{ord(ch):02X}" for ch in text)


# Relative to the mount point (/sms-api in the API server); "?" starts a query string.
ODD_PATHS = [
    f"/webhooks/{SECRET}/inbound-sms",
    f"/webhooks//{SECRET}/inbound-sms",
    f"/webhooks/a%2F{SECRET}/inbound-sms",
    f"/webhooks/a%2f{SECRET}/inbound-sms",
    f"/webhooks/{SECRET}%2Finbound-sms",
    f"/webhooks/extra/{SECRET}/more/inbound-sms",
    f"/webhooks/{SECRET}/inbound-sms/",
    f"/webhooks/{SECRET}/",
    f"/webhooks/guess/inbound-sms/{SECRET}",
    f"/webhooks/{SECRET}/inbound-sms?token={SECRET}",
    f"/webhooks/x/inbound-sms?{SECRET}",
    f"/webhooks/{percent_encoded(SECRET)}/inbound-sms",
    f"/webhooks/{SECRET[:-1]}/inbound-sms",
    f"/Webhooks/{SECRET}/inbound-sms",
    f"/webhook/{SECRET}/inbound-sms",
    f"/{SECRET}/inbound-sms",
    f"/webhooks/{SECRET}",
]


def pieces(secret: str, size: int = 10) -> list[str]:
    """Every ``size``-character piece of the secret: a near miss must not show either."""
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


class TestAccessLogRedaction:
    """What an access log reads from the shared scope: uvicorn's (Airflow 3.1) when the response
    starts, Airflow 3.3's ``http.access`` after it. Over real HTTP in the API server:
    tests/airflow_e2e/test_webhook_attacks.py."""

    @pytest.fixture
    def logged(self, store: MemoryStore) -> list[str]:
        return []

    @pytest.fixture
    def mounted(self, store: MemoryStore, logged: list[str]) -> TestClient:
        inner = SecretRedactingApp(create_app(secrets=SecretSource(lambda: SECRET, ttl=0), store=store))

        def line(scope: dict[str, Any]) -> str:
            return f"{scope['path']} {scope['raw_path']!r} {scope['query_string']!r}"

        async def access_log(scope, receive, send):
            async def on_send(message):
                if message["type"] == "http.response.start":
                    logged.append(line(scope))
                await send(message)

            await inner(scope, receive, on_send)
            logged.append(line(scope))

        return TestClient(access_log, raise_server_exceptions=False)

    @pytest.mark.parametrize("path", ODD_PATHS)
    @pytest.mark.parametrize("method", ["POST", "GET", "PUT"])
    def test_no_request_shape_shows_the_secret(self, mounted, logged, path, method):
        response = mounted.request(method, path, json=INBOUND, follow_redirects=False)
        assert response.status_code in (200, 307, 404, 405)
        assert len(logged) == 2
        for piece in pieces(SECRET):
            assert piece not in "\n".join(logged)

    def test_the_route_still_sees_the_real_path_and_the_log_its_shape(self, mounted, logged, store):
        assert mounted.post(inbound_url(), json=INBOUND).json() == {"status": "stored"}
        assert mounted.post(f"/webhooks//{SECRET}/inbound-sms", json=INBOUND).status_code == 404
        assert logged == ["/webhooks/***/inbound-sms b'/webhooks/***/inbound-sms' b''"] * 4
        assert len(store.events) == 1

    @pytest.mark.parametrize(
        ("path", "shown"),
        [
            ("/sms-api/webhooks/abc/inbound-sms", "/sms-api/webhooks/***/inbound-sms"),
            ("/sms-api/webhooks//a/b/delivery-receipts/", "/sms-api/webhooks/***/delivery-receipts/"),
            ("/sms-api/webhooks/abc/inbound-sms/abc", "/sms-api/webhooks/***/inbound-sms/***"),
            ("/sms-api/nothing/here", "/sms-api/***"),
            ("/sms-api", "/sms-api"),
        ],
    )
    def test_redact_scope_keeps_only_the_words_of_the_routes(self, path, shown):
        words = route_words(create_app(secrets=SecretSource(lambda: SECRET, ttl=0), store=MemoryStore()))
        assert words == {"webhooks", "delivery-receipts", "inbound-sms"}
        scope = {"path": path, "root_path": "/sms-api", "raw_path": b"ignored", "query_string": b"a=b"}
        redact_scope(scope, words)
        assert (scope["path"], scope["raw_path"], scope["query_string"]) == (shown, shown.encode(), b"")

    def test_a_mount_that_strips_the_prefix_is_redacted_too(self):
        """Starlette before 0.33 handed mounted apps the path without the mount point."""
        scope = {"path": "/webhooks/abc/inbound-sms", "root_path": "/sms-api", "query_string": b""}
        redact_scope(scope, frozenset({"webhooks", "inbound-sms"}))
        assert (scope["path"], scope["raw_path"]) == (
            "/webhooks/***/inbound-sms",
            b"/sms-api/webhooks/***/inbound-sms",
        )


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
