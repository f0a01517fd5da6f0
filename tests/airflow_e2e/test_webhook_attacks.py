"""Attack and fault cases against the plugin inside the real Airflow API server (the full
matrix runs against the bare app in tests/unit/test_webhook_app.py)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.airflow_e2e.cluster import AIRFLOW, free_port, wait_until
from tests.airflow_e2e.conftest import Deployment
from tests.support.servers import stop_process_group

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(deployment: Deployment):
    with httpx.Client(base_url=deployment.airflow.base_url, timeout=30, trust_env=False) as client:
        yield client


def inbound(message_id: str) -> dict[str, object]:
    return {"from": "447911123456", "to": "447700900000", "messageId": message_id, "text": "hi", "parts": 1}


def test_plugin_is_loaded_in_the_api_server(deployment: Deployment):
    plugins = deployment.airflow.api("GET", "/plugins")["plugins"]
    (ours,) = [p for p in plugins if p["name"] == "sms_api"]
    assert [app["url_prefix"] for app in ours["fastapi_apps"]] == ["/sms-api/dashboard", "/sms-api"]
    assert [view["url_route"] for view in ours["external_views"]] == ["sms-voice"]


def test_wrong_and_missing_secrets_look_like_unknown_paths(deployment: Deployment, client):
    unknown = client.post("/sms-api/nothing/here", json={})
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Not Found"})
    secret = deployment.airflow.webhook_secret
    message = inbound(f"attack-{uuid.uuid4()}")
    for path in (
        "/sms-api/webhooks/guess/inbound-sms",
        f"/sms-api/webhooks/{secret[:-1]}/inbound-sms",
        "/sms-api/webhooks//inbound-sms",
        "/sms-api/webhooks/inbound-sms",
    ):
        response = client.post(path, json=message)
        assert (response.status_code, response.content) == (404, unknown.content), path
    stored = deployment.airflow.asset_events("sms-api://inbound-sms")
    assert not [e for e in stored if e["extra"].get("messageId") == message["messageId"]]


def test_oversized_malformed_and_invalid_bodies_are_refused(deployment: Deployment, client):
    url = f"/sms-api/webhooks/{deployment.airflow.webhook_secret}/inbound-sms"
    assert client.post(url, content=b"x" * (64 * 1024 + 1)).status_code == 413
    assert client.post(url, content=b'{"from": ').status_code == 400
    assert client.post(url, json={"from": "447911123456", "text": "no ids"}).status_code == 422
    assert client.get(url).status_code == 405


# --- payloads Airflow could store but not give back ---------------------------------------

HUGE = "1" + "0" * 400


def splice(payload: dict[str, Any], **raw: str) -> bytes:
    """``payload`` as JSON with ``raw`` fields replaced by literal JSON text."""
    body = json.dumps({k: v for k, v in payload.items() if k not in raw})[:-1]
    return (body + "".join(f', "{k}": {v}' for k, v in raw.items()) + "}").encode()


def receipt(request_id: str) -> dict[str, object]:
    return {
        "requestId": request_id,
        "number": "+447911123456",
        "status": "DELIVERED",
        "timestamp": 1700000000,
    }


UNSTORABLE = {
    "inbound, escaped lone surrogate": ("inbound-sms", lambda m: splice(inbound(m), text='"\\ud800"')),
    "inbound, raw lone surrogate": (
        "inbound-sms",
        lambda m: json.dumps(inbound(m)).encode().replace(b'"hi"', b'"h\xed\xa0\x80i"'),
    ),
    "inbound, NUL": ("inbound-sms", lambda m: splice(inbound(m), text='"STOP\\u0000"')),
    "inbound, surrogate in a field name": ("inbound-sms", lambda m: splice(inbound(m), **{"\\udc00": "1"})),
    "inbound, huge timestamp": ("inbound-sms", lambda m: splice(inbound(m), timestamp=HUGE)),
    "receipt, huge timestamp": ("delivery-receipts", lambda r: splice(receipt(r), timestamp=HUGE)),
    "receipt, huge sipStatus": ("delivery-receipts", lambda r: splice(receipt(r), sipStatus=HUGE)),
    "receipt, surrogate in number": (
        "delivery-receipts",
        lambda r: splice(receipt(r), number='"+44\\ud800"'),
    ),
}


def listing(deployment: Deployment) -> list[dict[str, Any]]:
    """The latest 100 events from ``GET /api/v2/assets/events`` once it answers 200.

    Airflow 3.3.2 answers 500 while a run created by an event is still queued (apache/airflow
    #71360): that clears within seconds. An event it cannot serialize makes it 500 for good.
    """
    last: list[str] = []

    def answered() -> httpx.Response | None:
        response = deployment.airflow.client.get(
            "/api/v2/assets/events", params={"limit": 100, "order_by": "-timestamp"}
        )
        last[:] = [f"{response.status_code} {response.text[:300]}"]
        return response if response.status_code == 200 else None

    try:
        response = wait_until("a successful GET /api/v2/assets/events", answered, 90, interval=2)
        return list(response.json()["asset_events"])
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {last}") from None


@pytest.mark.parametrize("case", UNSTORABLE)
def test_unstorable_payloads_get_a_4xx_and_the_event_listing_keeps_working(
    deployment: Deployment, client, case
):
    kind, build = UNSTORABLE[case]
    ident = f"unstorable-{uuid.uuid4()}"
    response = client.post(
        f"/sms-api/webhooks/{deployment.airflow.webhook_secret}/{kind}",
        content=build(ident),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), response.text
    uri = "sms-api://inbound-sms" if kind == "inbound-sms" else "sms-api://delivery-receipts"
    field = "messageId" if kind == "inbound-sms" else "requestId"
    assert [e for e in deployment.airflow.asset_events(uri) if e["extra"].get(field) == ident] == []
    assert all(e["extra"].get(field) != ident for e in listing(deployment))


def test_text_with_emoji_is_stored_and_listed(deployment: Deployment, client):
    """The refusals above are not a refusal of non-ASCII text: an emoji, escaped as a UTF-16
    surrogate pair as JSON encoders do, is stored and served back by the REST API."""
    message = dict(inbound(f"emoji-{uuid.uuid4()}"), text="Merci \U0001f600 d\u00e9j\u00e0")
    body = json.dumps(message).encode()
    assert b"\\ud83d\\ude00" in body
    url = f"/sms-api/webhooks/{deployment.airflow.webhook_secret}/inbound-sms"
    assert client.post(url, content=body).json() == {"status": "stored"}
    (listed,) = [e for e in listing(deployment) if e["extra"].get("messageId") == message["messageId"]]
    assert listed["extra"] == message


# --- the access log ---------------------------------------------------------------------------


def raw_request(base_url: str, method: str, target: str, body: bytes = b"{}") -> int:
    """Send ``target`` exactly as written (no client normalises its slashes or escapes)."""
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode("ascii") + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def odd_targets(secret: str) -> list[str]:
    encoded = "".join(f"%{ord(ch):02X}" for ch in secret)
    base = "/sms-api/webhooks"
    return [
        f"{base}/{secret}/inbound-sms",
        f"{base}//{secret}/inbound-sms",  # a typical hand-registration typo
        f"{base}/a%2F{secret}/inbound-sms",
        f"{base}/a%2f{secret}/delivery-receipts",
        f"{base}/{secret}%2Finbound-sms",
        f"{base}/x/{secret}/y/inbound-sms",
        f"{base}/{secret}/inbound-sms/",
        f"{base}/{secret}/",
        f"{base}/{secret}",
        f"{base}/guess/inbound-sms/{secret}",
        f"{base}/{secret}/inbound-sms?token={secret}",
        f"{base}/x/inbound-sms?{secret}",
        f"{base}/{encoded}/inbound-sms",
        f"{base}/{encoded[:-3]}/inbound-sms",
        f"{base}/{secret[:-1]}/inbound-sms",
        f"/sms-api/Webhooks/{secret}/inbound-sms",
        f"/sms-api/webhook/{secret}/inbound-sms",
        f"/sms-api/{secret}/inbound-sms",
        f"/sms-api//webhooks/{secret}/inbound-sms",
    ]


def test_no_request_shape_puts_the_secret_in_the_api_servers_logs(deployment: Deployment):
    airflow = deployment.airflow
    secret = airflow.webhook_secret
    statuses = {}
    for target in odd_targets(secret):
        for method in ("POST", "GET", "PUT", "DELETE"):
            body = json.dumps(inbound(f"log-{uuid.uuid4()}")).encode()
            statuses[(method, target)] = raw_request(airflow.base_url, method, target, body)
    assert statuses[("POST", odd_targets(secret)[0])] == 200  # the real route was reached
    assert set(statuses.values()) <= {200, 307, 404, 405}, statuses
    # A request after all of them, outside the plugin: once the access log shows it, it shows
    # the ones before (one worker, written in order).
    probe = uuid.uuid4().hex
    assert airflow.client.get("/api/v2/version", params={"probe": probe}).status_code == 200
    server_log = airflow.home / "api-server.log"
    wait_until(
        "the access log to show the probe", lambda: probe in server_log.read_text(errors="replace"), 30
    )
    logged = server_log.read_text(errors="replace")
    assert "/sms-api/webhooks/***/inbound-sms" in logged  # the access log does record these requests
    every_file = b"\n".join(
        path.read_bytes()
        for path in airflow.home.rglob("*")
        if path.is_file() and not path.name.startswith("airflow.db")
    )
    pieces = {secret[i : i + 10] for i in range(len(secret) - 9)}
    assert [piece for piece in pieces if piece.encode() in every_file] == []


# --- an unusable secret, said at start-up -------------------------------------------------


@contextlib.contextmanager
def second_api_server(deployment: Deployment, secret: str) -> Iterator[tuple[str, Path]]:
    """Another API server on the same metadata database, configured with ``secret``."""
    airflow = deployment.airflow
    port = free_port()
    log_path = airflow.home / f"api-server-{port}.log"
    env = dict(airflow.env, AIRFLOW__SMS_API__WEBHOOK_SECRET=secret)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=airflow.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base_url, timeout=10, trust_env=False) as client:

            def up() -> bool:
                assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
                return client.get("/api/v2/monitor/health").status_code == 200

            wait_until("the second API server", up, 120, interval=1)
        yield base_url, log_path
    finally:
        stop_process_group(proc, grace=15)


def test_an_api_server_with_a_base64_secret_says_at_start_up_why_it_refuses_everything(
    deployment: Deployment,
):
    """``openssl rand -base64`` makes secrets with '/', which a URL path cannot carry: the
    receipts would all be 404s. The API server's log says so before any request arrives."""
    secret = "Zm9v/YmFy+YmF6cXV4cXV1eA=="
    with second_api_server(deployment, secret) as (base_url, log_path):
        started = log_path.read_text(errors="replace")
        assert "[sms_api] webhook_secret has characters other than A-Z, a-z, 0-9" in started
        assert "refuses every request" in started
        for target in (
            f"/sms-api/webhooks/{secret}/delivery-receipts",
            "/sms-api/webhooks/Zm9v%2FYmFy%2BYmF6cXV4cXV1eA%3D%3D/delivery-receipts",
        ):
            status = raw_request(
                base_url, "POST", target, json.dumps(receipt(f"b64-{uuid.uuid4()}")).encode()
            )
            assert status == 404
    assert secret not in log_path.read_text(errors="replace")
