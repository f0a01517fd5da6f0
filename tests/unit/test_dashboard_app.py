"""The page's app behind Airflow's own sign-in: real auth manager (SimpleAuthManager), real JWTs,
real metadata database; no data without a valid token, none without permission to read assets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from airflow_provider_sms.plugins.dashboard import DASHBOARD_APP, DASHBOARD_VIEW, create_dashboard_app


@pytest.fixture(scope="module")
def auth(airflow_db) -> Iterator[object]:
    mp = pytest.MonkeyPatch()
    mp.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "unit-test-secret-" + "x" * 32)
    from airflow.api_fastapi.app import create_auth_manager

    manager = create_auth_manager()
    manager.init()
    yield manager
    mp.undo()


@pytest.fixture(scope="module")
def client(auth) -> Iterator[TestClient]:
    with TestClient(create_dashboard_app()) as test_client:
        yield test_client


def token(auth, role: str | None) -> str:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return auth.generate_jwt(SimpleAuthManagerUser(username=f"user-{role}", role=role))


@pytest.mark.parametrize("path", ["/api/data", "/api/sections"])
def test_no_sign_in_no_data(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert client.get(path, headers={"Authorization": "Bearer not-a-jwt"}).status_code in (401, 403)


@pytest.mark.parametrize("path", ["/api/data", "/api/sections"])
def test_a_user_who_may_not_read_assets_gets_403(client, auth, path):
    response = client.get(path, headers={"Authorization": f"Bearer {token(auth, None)}"})
    assert response.status_code == 403


def test_a_viewer_gets_the_data_by_bearer_token(client, auth):
    response = client.get("/api/data?days=7", headers={"Authorization": f"Bearer {token(auth, 'viewer')}"})
    assert response.status_code == 200
    data = response.json()  # the session's database: empty, or what other tests stored
    assert data["range"]["timezone"] == "UTC"
    assert len(data["spend"]["days"]) == len(data["delivery"]["days"]) == 7
    assert response.headers["cache-control"] == "no-store"


def test_the_sign_in_cookie_works_too_from_airflow_3_2(client, auth):
    """Airflow 3.2+ reads the ``_token`` sign-in cookie; 3.1's ``get_user`` takes only the Bearer
    header, which the page's script sends there from the UI's stored token."""
    from importlib.metadata import version

    client.cookies.set("_token", token(auth, "viewer"))
    try:
        response = client.get("/api/sections")
    finally:
        client.cookies.clear()
    if tuple(int(p) for p in version("apache-airflow").split(".")[:2]) < (3, 2):
        assert response.status_code == 401
        return
    assert response.status_code == 200
    assert 'data-section="empty"' in response.text or 'data-section="headline"' in response.text


def test_the_period_is_bounded(client, auth):
    headers = {"Authorization": f"Bearer {token(auth, 'viewer')}"}
    assert client.get("/api/data?days=0", headers=headers).status_code == 422
    assert client.get("/api/data?days=367", headers=headers).status_code == 422


def test_the_page_and_its_files_hold_no_data_and_need_no_sign_in(client):
    page = client.get("/")
    assert page.status_code == 200
    assert 'src="static/dashboard.js"' in page.text
    assert client.get("/static/dashboard.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/icon.svg").status_code == 200
    for bad in ("/static/index.html", "/static/..%2Fdashboard.py", "/static/.hidden.js", "/static/nope.js"):
        assert client.get(bad).status_code == 404


def test_registered_on_the_plugin_before_the_webhooks():
    from airflow_provider_sms.plugins.webhooks import SmsApiWebhookPlugin

    assert SmsApiWebhookPlugin.fastapi_apps[0] is DASHBOARD_APP
    assert [a["url_prefix"] for a in SmsApiWebhookPlugin.fastapi_apps] == ["/sms-api/dashboard", "/sms-api"]
    assert SmsApiWebhookPlugin.external_views == [DASHBOARD_VIEW]
    assert DASHBOARD_VIEW["href"] == "sms-api/dashboard/"
