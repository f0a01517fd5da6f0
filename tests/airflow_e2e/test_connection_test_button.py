"""The connection list's Test button, against the real API server ([core] test_connection = Enabled).

Airflow 3.3.2's UI (the connection list's row button) posts the listed connection back to
``POST /api/v2/connections/test`` with ``port: Number(connection.port)``: ``0`` for a
connection saved without a port. The API server compares that with the stored port (NULL), finds
another endpoint and answers 400 unless real credentials come along. A connection saved with its
port (the form shows the field) passes; so does one saved with port 0, which the hook reads as
"the port of the URL". docs/connection.md tells users this; these tests keep it true.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.airflow_e2e.conftest import Deployment

pytestmark = pytest.mark.e2e


def list_button_body(listed: dict[str, Any]) -> dict[str, Any]:
    """The request body the UI's list Test button builds from a listed connection (Airflow 3.3.2)."""
    extra = listed.get("extra")
    return {
        "conn_type": listed["conn_type"],
        "connection_id": listed["connection_id"],
        "description": listed.get("description") or "",
        "extra": "{}" if extra in ("", None) else extra,
        "host": listed.get("host") or "",
        "login": listed.get("login") or "",
        "password": listed.get("password") or "",
        "port": listed.get("port") or 0,  # JavaScript's Number(null) is 0
        "schema": listed.get("schema") or "",
    }


def airflow_compares_the_port() -> bool:
    """Whether the installed API server refuses a test of another host or port (3.3+)."""
    from airflow.api_fastapi.core_api.routes.public import connections

    return hasattr(connections, "_same_endpoint")


@pytest.fixture
def saved_connection(deployment: Deployment) -> Iterator[Callable[[int | None], dict[str, Any]]]:
    """``saved_connection(port)``: an sms_api connection to the sandbox, saved as the form saves it."""
    airflow = deployment.airflow
    created: list[str] = []

    def save(port: int | None) -> dict[str, Any]:
        conn = deployment.sandbox.airflow_conn()
        conn_id = f"sms_button_{uuid.uuid4().hex[:8]}"
        body = {
            "connection_id": conn_id,
            "conn_type": "sms_api",
            "host": conn["host"],
            "login": conn["login"],
            "password": conn["password"],
            "extra": json.dumps(conn["extra"]),
            "port": port,
        }
        airflow.api("POST", "/connections", json=body)
        created.append(conn_id)
        return dict(airflow.api("GET", f"/connections/{conn_id}"))

    yield save
    for conn_id in created:
        airflow.client.delete(f"/api/v2/connections/{conn_id}")


def press_test(deployment: Deployment, listed: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = deployment.airflow.client.post("/api/v2/connections/test", json=list_button_body(listed))
    return response.status_code, response.json()


def status_reads(deployment: Deployment) -> int:
    """Requests the hook's test_connection makes: a read of an unknown request id (costs nothing)."""
    return sum(1 for e in deployment.sandbox.ledger() if e["product"] == "incoming_info")


@pytest.mark.parametrize("port", ["the URL's", 0], ids=["port-of-the-url", "port-0"])
def test_a_connection_saved_with_a_port_passes_the_list_test_button(deployment, saved_connection, port):
    sandbox_port = urlsplit(deployment.sandbox.base_url).port
    listed = saved_connection(sandbox_port if port == "the URL's" else port)
    reads_before = status_reads(deployment)

    status, answer = press_test(deployment, listed)

    assert (status, answer["status"]) == (200, True), answer
    assert status_reads(deployment) == reads_before + 1  # the hook really asked the sandbox


def test_a_connection_saved_without_a_port_is_refused_where_airflow_compares_ports(
    deployment, saved_connection
):
    listed = saved_connection(None)
    assert listed["port"] is None

    status, answer = press_test(deployment, listed)

    if airflow_compares_the_port():
        # If this fails, Airflow stopped refusing it: update docs/connection.md ("The Test button").
        assert status == 400, answer
        assert "differs from the stored connection" in answer["detail"]
    else:
        assert (status, answer["status"]) == (200, True), answer
