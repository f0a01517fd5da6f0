"""Incoming-call verification: reservation lifecycle PENDING -> DELIVERED / EXPIRED -> 404."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from airflow_provider_sms.api import constants as c
from airflow_provider_sms.sandbox import Sandbox


def reserve(sb: Sandbox, number: str, **extra: Any) -> dict[str, Any]:
    r = requests.post(
        sb.api_url + c.PATH_INCOMING_CALL,
        json={"number": number, **extra},
        auth=(sb.key, sb.secret),
        verify=sb.ca_path,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()


def info(sb: Sandbox, request_id: str) -> requests.Response:
    return requests.get(
        f"{sb.api_url}/calls/incoming/{request_id}", auth=(sb.key, sb.secret), verify=sb.ca_path, timeout=10
    )


def wait_status(sb: Sandbox, request_id: str, want: int | str, timeout: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = info(sb, request_id)
        got = r.status_code if isinstance(want, int) else r.json().get("status")
        if got == want:
            return r.json()
        if time.monotonic() > deadline:
            raise AssertionError(f"still {r.status_code} {r.text}, wanted {want}")
        time.sleep(0.05)


@pytest.fixture
def short(sandbox_factory: Any) -> Any:
    with sandbox_factory(expire_after=1.5, grace=1.0) as sb:
        yield sb


def test_user_calls_after_last_digit_seconds(short: Sandbox) -> None:
    reserved = reserve(short, "+18800000001")  # last digit 1: the user calls after 1 s
    first = info(short, reserved["requestId"]).json()
    assert first["status"] == "PENDING"
    assert first["callReceivedAt"] is None
    delivered = wait_status(short, reserved["requestId"], "DELIVERED", timeout=3)
    assert delivered["didNumber"] == reserved["didNumber"]
    assert delivered["expiresAt"] == reserved["expiresAt"]
    assert delivered["callReceivedAt"].isdigit()
    assert int(delivered["callReceivedAt"]) <= int(delivered["expiresAt"])
    # Stays DELIVERED past the expiry, then 404 after the grace period.
    time.sleep(1.0)
    assert info(short, reserved["requestId"]).json()["status"] == "DELIVERED"
    body = wait_status(short, reserved["requestId"], 404, timeout=3)
    assert body == {"errorCode": 404, "errorReason": "Request not found or expired"}


def test_never_called_expires_then_404(short: Sandbox) -> None:
    reserved = reserve(short, "+18800000000")  # last digit 0: nobody calls
    assert info(short, reserved["requestId"]).json()["status"] == "PENDING"
    expired = wait_status(short, reserved["requestId"], "EXPIRED", timeout=3)
    assert expired["callReceivedAt"] is None
    wait_status(short, reserved["requestId"], 404, timeout=3)


def test_call_later_than_expiry_does_not_count(short: Sandbox) -> None:
    reserved = reserve(short, "+18800000009")  # would call after 9 s, expires after 1.5 s
    expired = wait_status(short, reserved["requestId"], "EXPIRED", timeout=3)
    assert expired["callReceivedAt"] is None


def test_control_call_and_other_number_ignored(sandbox: Sandbox) -> None:
    reserved = reserve(sandbox, "+447700900000")  # never calls by itself
    request_id = reserved["requestId"]
    assert sandbox.place_incoming_call(request_id, "+447700900999") is False  # another number
    assert info(sandbox, request_id).json()["status"] == "PENDING"
    assert sandbox.place_incoming_call("no-such-request") is False
    assert sandbox.place_incoming_call(request_id, "+447700900000") is True
    body = info(sandbox, request_id).json()
    assert body["status"] == "DELIVERED"
    assert abs(int(body["callReceivedAt"]) - time.time()) < 3
    assert sandbox.place_incoming_call(request_id) is False  # only the first call counts


def test_control_endpoint(sandbox: Sandbox) -> None:
    request_id = reserve(sandbox, "+18800000000")["requestId"]
    url = f"{sandbox.base_url}/_sandbox/calls/incoming/{request_id}/call"
    r = requests.post(url, json={"from": "+15005550006"}, verify=sandbox.ca_path, timeout=10)
    assert r.json() == {"requestId": request_id, "accepted": False}
    r = requests.post(url, verify=sandbox.ca_path, timeout=10)  # no body: from the reserved number
    assert r.json() == {"requestId": request_id, "accepted": True}
    assert info(sandbox, request_id).json()["status"] == "DELIVERED"


def test_control_call_after_expiry_ignored(sandbox_factory: Any) -> None:
    with sandbox_factory(expire_after=0.3, grace=5) as sb:
        request_id = reserve(sb, "+18800000000")["requestId"]
        time.sleep(0.4)
        assert sb.place_incoming_call(request_id) is False
        assert info(sb, request_id).json()["status"] == "EXPIRED"


def test_expires_at_is_expire_after_from_now(sandbox_factory: Any) -> None:
    with sandbox_factory(expire_after=60) as sb:
        before = time.time()
        reserved = reserve(sb, "+18800000000")
        assert before + 59 <= int(reserved["expiresAt"]) <= time.time() + 60


def test_ledger_marks_info_not_billable(sandbox: Sandbox) -> None:
    request_id = reserve(sandbox, "+18800000000")["requestId"]
    info(sandbox, request_id)
    reservation, query = sandbox.ledger()
    assert (reservation["product"], reservation["billable"], reservation["outcome"]) == (
        "incoming",
        True,
        "PENDING",
    )
    assert (query["product"], query["billable"], query["request_id"]) == ("incoming_info", False, request_id)
