"""Attack and fault cases against the plugin inside the real Airflow API server (the full
matrix runs against the bare app in tests/unit/test_webhook_app.py)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.airflow_e2e.conftest import Deployment

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
    assert client.post(url, content=b"{\"from\": ").status_code == 400
    assert client.post(url, json={"from": "447911123456", "text": "no ids"}).status_code == 422
    assert client.get(url).status_code == 405
